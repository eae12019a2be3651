// SPDX-License-Identifier: Apache-2.0
#include "deploy/sync_placement.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <fstream>

#include "deploy/artifact_stream.hpp"
#include "delta/dest_stamps.hpp"
#include "deploy/staging.hpp"
#include "sync/tree_sync.hpp"
#include "drift/tree_record.hpp"
#include "drift/tree_record_writer.hpp"
#include "release/applied_release.hpp"
#include "release/deploy_journal.hpp"
#include "release/dest_lock.hpp"
#include "deploy/journal_scope.hpp"
#include "util/error.hpp"
#include "util/units.hpp"
#include "util/beside_dest.hpp"

namespace haul {
namespace fs = std::filesystem;
namespace {

std::string staging_prefix(const fs::path& dest) { return ".haul-staging-" + dest.filename().string() + "-"; }

// A killed deploy leaves its staging folder beside dest (up to the size of
// a release); under dest's lock, any such folder is a leftover.
void remove_staging_leftovers(DeployContext& ctx, const fs::path& dest) {
  const std::string prefix = staging_prefix(dest);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dest.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    // mkdtemp's six characters exactly: dest "app" must not take "app-x"'s.
    if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0 ||
        name.find('-', prefix.size()) != std::string::npos)
      continue;
    std::error_code rm;
    fs::remove_all(e.path(), rm);
    if (rm)
      ctx.log.warn("cannot remove the leftover staging folder " + e.path().string() + ": " + rm.message());
    else
      ctx.log.info("removed leftover " + e.path().string() + " (the staging folder of an interrupted deploy)");
  }
}

uint64_t count_entries(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    ++n;
  return n;
}

// A first deploy into a folder that holds things haul did not put there
// deletes what the release lacks: said loudly, before it happens.
void warn_if_foreign(DeployContext& ctx, const fs::path& dest) {
  if (read_applied_release(dest)) return;
  const uint64_t entries = count_entries(dest);
  if (entries == 0) return;
  ctx.log.warn("dest " + dest.string() + " is not empty (" + count_of(entries, "entry", "entries") +
               ") and haul has never deployed to it: whatever the release does not hold will be DELETED from it "
               "(excludes protect theirs; `haul plan` lists it all beforehand)");
}

// The sync's exclude rules as exclude-file lines: the manifest's excludes,
// then exclude_from's lines (read from the staged release).
std::vector<std::string> exclude_rule_lines(const DeployContext& ctx, const fs::path& staging) {
  std::vector<std::string> lines;
  for (const auto& p : ctx.manifest.excludes) lines.push_back("- " + p);
  const std::string& from = ctx.manifest.exclude_from;
  if (!from.empty()) {
    const fs::path rel = fs::path(from).lexically_normal();
    if (rel.is_absolute() || rel.empty() || *rel.begin() == "..")
      throw Error("exclude_from: '" + from + "' must be a path inside the archive, like config/exclude.txt");
    std::ifstream in(staging / rel);
    if (!in) throw Error("exclude_from: '" + from + "' is not a file in the archive " + ctx.manifest.src);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  return lines;
}

void sync(DeployContext& ctx, const fs::path& staging, const fs::path& dest, const KeptFiles& kept,
          const std::vector<std::string>& rule_lines) {
  ExcludeRules rules;
  for (const auto& line : rule_lines) rules.add_line(line);
  const auto verbosity = std::count(ctx.options.rsync_verbose.begin(), ctx.options.rsync_verbose.end(), 'v');
  ctx.log.info("Sync " + staging.string() + "/ to " + dest.string() + " (rsync -a --delete semantics)");
  SyncReporter report;
  if (verbosity > 0)
    report = [&](const char* action, const std::string& path) {
      ctx.log.info(*action ? std::string(action) + " " + path : path);
    };
  SyncStats s = sync_tree(staging, dest, rules, report, &kept);
  ctx.log.info("Sync done: " + std::to_string(s.written) + " written, " + std::to_string(s.unchanged) +
               " unchanged, " + std::to_string(s.deleted) + " deleted" +
               (s.protected_by_exclude ? ", " + std::to_string(s.protected_by_exclude) + " kept by excludes" : ""));
}

class SyncPlacement final : public Placement {
 public:
  SyncPlacement(DeployContext& ctx, const fs::path& dest)
      : ctx_(ctx), dest_(dest), rsync_(ctx.manifest.sync_strategy == SyncStrategy::rsync),
        lock_(beside_dest(dest, "lock"), ctx.options.lock_timeout, ctx.before_start),
        journal_scope_(DeployJournal::beside(dest), journal_entry(ctx, "fetch", ""), dest.string(), ctx.log),
        record_(TreeRecord::beside(dest)), stamps_(dest) {
    journal_ = &journal_scope_;
  }

  bool stage() override {
    remove_staging_leftovers(ctx_, dest_);
    // Staging sits beside dest so that placing it is a rename, never a copy.
    const fs::path parent = dest_.parent_path();
    std::string tmpl = (parent / (staging_prefix(dest_) + "XXXXXX")).string();
    if (!mkdtemp(tmpl.data()))
      throw Error("cannot create a staging folder in " + parent.string() + ": " + std::strerror(errno));
    staging_.path = tmpl;
    // rsync: what dest already holds unchanged is neither written to staging
    // nor moved; mv needs the whole tree.
    ExtractOptions extract;
    extract.sinks = {&record_};
    if (rsync_ && fs::is_directory(dest_)) {
      const Manifest& m = ctx_.manifest;
      extract.quick_check_dest = dest_;
      extract.kept = &kept_;
      extract.always_extract = m.exclude_from.empty() ? std::string() : fs::path(m.exclude_from).lexically_normal().string();
    }
    // A chunked release's stamps: the next one need not read what this one placed.
    fetch_and_extract(ctx_, staging_.path, extract, {rsync_ ? &stamps_ : nullptr, nullptr});
    if (rsync_) warn_if_foreign(ctx_, dest_);
    return true;
  }

  // The content record is on disk before dest changes (a full disk fails
  // the deploy here, dest untouched) and goes into place once it has.
  void prepare() override {
    ctx_.log.info("Set dest mode " + format_mode(ctx_.manifest.dest_mode));
    apply_dest_mode(ctx_, staging_.path);
    if (rsync_) rule_lines_ = exclude_rule_lines(ctx_, staging_.path);
    record_.finish(tree_record_meta(ctx_, rule_lines_));
  }

  void commit() override {
    journal(rsync_ ? "sync" : "mv");
    ctx_.dest_state = DeployContext::DestState::changing;
    dest_changed_ = true;
    if (rsync_) {
      sync(ctx_, staging_.path, dest_, kept_, rule_lines_);
    } else {
      ctx_.log.info("Move " + staging_.path.string() + " to " + dest_.string());
      move_tree(staging_.path, dest_);
      staging_.path.clear();  // it is dest now
    }
    ctx_.dest_state = DeployContext::DestState::placed;
    try {
      record_.commit();
    } catch (const std::exception& e) {
      ctx_.log.warn(std::string(e.what()) + "; haul diff cannot check dest until the next deploy");
    }
    try {
      if (rsync_) stamps_.write();
    } catch (const std::exception& e) {
      ctx_.log.warn(std::string(e.what()) + "; the next chunked deploy reads dest's files again");
    }
  }

 private:
  DeployContext& ctx_;
  const fs::path dest_;
  const bool rsync_;
  DestLock lock_;
  JournalScope journal_scope_;
  StagingFolder staging_;
  KeptFiles kept_;
  TreeRecordWriter record_;
  DestStampsWriter stamps_;
  std::vector<std::string> rule_lines_;
};

}  // namespace

std::unique_ptr<Placement> sync_placement(DeployContext& ctx, const fs::path& dest) {
  return std::make_unique<SyncPlacement>(ctx, dest);
}

}  // namespace haul
