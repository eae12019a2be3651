// SPDX-License-Identifier: Apache-2.0
#include "deploy/plan_report.hpp"

#include <sstream>

#include "deploy/artifact_stream.hpp"
#include "deploy/deploy_plan.hpp"
#include "release/applied_release.hpp"
#include "release/release_store.hpp"
#include "util/units.hpp"

namespace haul {
namespace fs = std::filesystem;

std::string plan_report(DeployContext& ctx) {
  const Manifest& m = ctx.manifest;
  std::ostringstream out;
  auto list = [&](const char* what, const std::vector<std::string>& paths) {
    if (paths.empty()) return;
    constexpr size_t kShown = 50;
    out << "  " << what << ":\n";
    for (size_t i = 0; i < paths.size() && i < kShown; ++i) out << "    " << paths[i] << "\n";
    if (paths.size() > kShown) out << "    ... and " << paths.size() - kShown << " more\n";
  };
  auto commands = [&](const char* phase, const std::vector<std::string>& cmds) {
    for (const auto& c : cmds) out << "    " << phase << ": " << c << "\n";
  };
  out << "Plan for " << ctx.request.manifest_url << " (nothing was changed)\n";
  if (m.src.empty()) {
    out << "  no src: the deploy runs commands only\n";
  } else {
    const fs::path dest = fs::path(m.dest).lexically_normal();
    out << "  dest:      " << dest.string() << " (sync_strategy " << to_string(m.sync_strategy) << ")\n";
    const bool release = m.sync_strategy == SyncStrategy::release;
    fs::path target = dest;
    std::string replaces;  // empty: decided by what the walk of dest finds
    if (release) {
      ReleaseStore store(dest);
      const auto current = store.current_id();
      target = current ? store.release_dir(*current) : fs::path();
      replaces = current ? "release " + *current + " (current)" : "nothing: dest has no current release";
    } else if (auto applied = read_applied_release(dest)) {
      replaces = (applied->release.empty() ? std::string("the release") : "release " + applied->release) +
                 " from " + applied->manifest_url + ", applied " + format_timestamp(applied->applied_at);
    }
    if (m.sync_strategy == SyncStrategy::mv && fs::exists(dest))
      out << "  WARNING:   sync_strategy mv needs dest not to exist; this deploy would fail\n";
    PlanOptions opts;
    opts.excludes = m.excludes;
    opts.exclude_from = m.exclude_from;
    opts.apply_excludes = m.sync_strategy == SyncStrategy::rsync;
    DeployPlan p;
    ctx.log.info("Fetching " + m.src + " to plan the deploy (nothing is written)");
    stream_artifact(ctx, [&](const ChunkReader& reader) { p = plan_deploy(reader, target, m.src, opts); });
    // No record of a deploy, yet something there: a folder haul never deployed to.
    const bool foreign = replaces.empty() && p.target_entries > 0;
    if (replaces.empty()) replaces = foreign ? "a folder haul has NEVER deployed to" : "nothing: dest is empty or missing";
    out << "  replaces:  " << replaces << "\n";
    out << "  artifact:  " << m.src << ", " << format_bytes(ctx.bytes_fetched) << ", " << m.checksum_algorithm()
        << " verified" << (ctx.options.trusted_keys.empty() ? "" : ", signature verified") << "\n";
    out << "  files:     " << p.created.size() << " new, " << p.changed.size() << " changed, " << p.unchanged
        << " unchanged, " << p.deleted.size() << (release ? " not in the new release" : " deleted")
        << (release ? "" : ", " + std::to_string(p.kept_by_excludes.size()) + " kept by excludes") << "\n";
    if (foreign && !p.deleted.empty())
      out << "  WARNING:   " << dest.string() << " holds " << count_of(p.target_entries, "entry", "entries")
          << " haul did not put there; this deploy DELETES " << count_of(p.deleted.size(), "of them", "of them") << "\n";
    list("new", p.created);
    list("changed", p.changed);
    list(release ? "not in the new release" : "deleted", p.deleted);
    list("kept by excludes", p.kept_by_excludes);
  }
  const auto& c = m.commands;
  out << "  commands that would run:\n";
  commands("pre", c.pre);
  commands("post", c.post);
  commands("verify", c.verify);
  commands("success", c.success);
  commands("failure", c.failure);
  if (c.pre.empty() && c.post.empty() && c.verify.empty() && c.success.empty() && c.failure.empty())
    out << "    (none)\n";
  return out.str();
}

}  // namespace haul
