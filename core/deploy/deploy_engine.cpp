#include "deploy/deploy_engine.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "config/manifest.hpp"
#include "deploy/byte_pipe.hpp"
#include "deploy/decompress_thread.hpp"
#include "deploy/deploy_plan.hpp"
#include "deploy/deploy_log.hpp"
#include "deploy/extractor.hpp"
#include "deploy/hasher.hpp"
#include "deploy/hook_phase.hpp"
#include "deploy/transfer_progress.hpp"
#include "deploy/tree_sync.hpp"
#include "drift/pending_tree_record.hpp"
#include "release/deploy_journal.hpp"
#include "release/journal_scope.hpp"
#include "release/dest_lock.hpp"
#include "release/release_store.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"
#include "util/units.hpp"
#include "release/applied_release.hpp"
#include "signing/manifest_signature.hpp"

namespace haul {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct ChecksumMismatch : Error {
  using Error::Error;
};

// Removes the staging folder however the deploy ends.
struct StagingFolder {
  fs::path path;
  ~StagingFolder() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

// The per-deploy state hooks see; lives for one run().
class Deploy {
 public:
  Deploy(const std::string& pipeline, const SourceSet& sources, const std::vector<HookInstance*>& hooks,
         const DeployOptions& options, const DeployRequest& request, StopSignal& abort, StopSignal* stopping)
      : pipeline_(pipeline), sources_(sources), hooks_(hooks), options_(options), request_(request),
        stop_(abort), log_(pipeline) {
    // Before dest is touched, a shutdown request (or an abort) cancels the
    // deploy; after, only an abort does.
    auto raise = [this] { before_start_.raise(); };
    abort_listener_ = stop_.listen(raise);
    if (stopping) stopping_listener_ = {stopping, stopping->listen(raise)};
  }
  ~Deploy() {
    stop_.unlisten(abort_listener_);
    if (stopping_listener_.first) stopping_listener_.first->unlisten(stopping_listener_.second);
  }

  DeployResult run() {
    const auto start = Clock::now();
    DeployResult result;
    started_at_ms_ = result.started_at_unix_ms = unix_ms_now();
    try {
      if (!request_.dry_run) random_delay();
      log_.info("Loading manifest: " + request_.manifest_url);
      FetchPolicy policy = fetch_policy();
      policy.timeout = std::chrono::milliseconds(0);  // --timeout is stretcher's limit for src
      const std::string text = fetch_text(sources_, request_.manifest_url, policy, stop_, log_);
      result.manifest_sha256 = sha256_hex(text);
      if (!request_.expected_manifest_sha256.empty() && request_.expected_manifest_sha256 != result.manifest_sha256)
        throw Error(request_.manifest_url + ": sha256 " + result.manifest_sha256 + ", but the desired-release pointer says " +
                    request_.expected_manifest_sha256 +
                    "; refusing it (the manifest changed after the pointer was written, or was altered)");
      if (!request_.unless_manifest_sha256.empty() && request_.unless_manifest_sha256 == result.manifest_sha256) {
        log_.info(request_.manifest_url + " is the manifest the last deploy applied (sha256 " + result.manifest_sha256 +
                  "); nothing to do");
        result.ok = result.skipped = true;
        result.log = log_.text();
        result.release = request_.manifest_url;
        result.finished_at_unix_ms = unix_ms_now();
        return result;
      }
      if (!options_.trusted_keys.empty()) check_signature(text, policy);
      ManifestChecks checks;
      checks.strict = options_.strict;
      manifest_ = parse_manifest(text, request_.manifest_url, process_env, checks);
      manifest_text_ = text;
      if (!options_.trusted_keys.empty()) check_not_older();
      for (const auto& f : manifest_.ignored_fields)
        log_.warn("manifest " + request_.manifest_url + ": unknown field '" + f +
                  "' ignored (as stretcher did; deploy.strict: true or --strict refuses it)");
      if (request_.dry_run) {
        result.plan = plan();
        result.ok = true;
        result.skipped = true;  // nothing was deployed
        result.log = log_.text();
        result.release = release_name();
        result.finished_at_unix_ms = unix_ms_now();
        return result;
      }
      if (manifest_.src.empty()) {
        log_.info("No src in the manifest: running commands only");
        phase(HAUL_PHASE_PRE, manifest_.commands.pre);
        phase(HAUL_PHASE_POST, manifest_.commands.post);
      } else {
        deploy_src();
      }
      log_.info("Deploy manifest succeeded.");
      result.ok = true;
      record_applied(result.manifest_sha256);
    } catch (const std::exception& e) {
      result.error = e.what();
      log_.error("Deploy manifest failed: " + result.error);
    }
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    finished_at_ms_ = result.finished_at_unix_ms = unix_ms_now();
    if (result.ok) {
      finish_phase(HAUL_PHASE_SUCCESS, manifest_.commands.success, "");
    } else {
      finish_phase(HAUL_PHASE_FAILURE, manifest_.commands.failure, result.error);
    }
    result.interrupted = !result.ok && before_start_.raised();
    result.log = log_.text();
    result.release = release_name();
    if (result.release.empty()) result.release = request_.manifest_url;
    result.bytes_fetched = bytes_fetched_;
    return result;
  }

 private:
  FetchPolicy fetch_policy() const { return fetch_policy_for(options_); }

  void random_delay() {
    if (options_.random_delay.count() <= 0) return;
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_int_distribution<long long> dist(0, options_.random_delay.count() - 1);
    std::chrono::milliseconds d(dist(rng));
    log_.info("Sleep " + format_duration(d) + " (random delay up to " + format_duration(options_.random_delay) + ")");
    if (!before_start_.sleep_for(d)) throw Error("cancelled during the random delay: haul is shutting down");
  }

  void deploy_src() {
    const fs::path dest = fs::absolute(manifest_.dest).lexically_normal();
    const fs::path parent = dest.parent_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) throw Error("cannot create the parent of dest " + dest.string() + ": " + ec.message());
    if (manifest_.sync_strategy == SyncStrategy::release) return deploy_release(dest);
    DestLock lock(parent / (".haul-" + dest.filename().string() + ".lock"), options_.lock_timeout, before_start_);
    JournalScope journal(DeployJournal::beside(dest), journal_entry("fetch", ""), dest.string(), log_);
    remove_staging_leftovers(dest);

    // Staging sits beside dest so that placing it is a rename, never a copy.
    StagingFolder staging;
    std::string tmpl = (parent / (staging_prefix(dest) + "XXXXXX")).string();
    if (!mkdtemp(tmpl.data()))
      throw Error("cannot create a staging folder in " + parent.string() + ": " + std::strerror(errno));
    staging.path = tmpl;

    // rsync: what dest already holds unchanged is neither written to staging
    // nor moved; mv needs the whole tree.
    KeptIndex kept;
    TreeRecord tree;
    ExtractOptions extract;
    extract.tree = &tree;
    if (manifest_.sync_strategy == SyncStrategy::rsync && fs::is_directory(dest)) {
      extract.quick_check_dest = dest;
      extract.kept = &kept;
      extract.always_extract = manifest_.exclude_from.empty()
                                   ? std::string()
                                   : fs::path(manifest_.exclude_from).lexically_normal().string();
    }
    fetch_and_extract_with_retry(staging.path, extract);
    if (manifest_.sync_strategy == SyncStrategy::rsync) warn_if_foreign(dest);

    journal.phase("pre");
    phase(HAUL_PHASE_PRE, manifest_.commands.pre, "", &journal);

    log_.info("Set dest mode " + octal(manifest_.dest_mode));
    if (chmod(staging.path.c_str(), manifest_.dest_mode) != 0)
      throw Error("cannot set dest_mode on the staged release: " + std::string(std::strerror(errno)));

    // The content record goes down before dest changes (a full disk fails
    // the deploy here, dest untouched) and into place once it has.
    const std::vector<std::string> rule_lines =
        manifest_.sync_strategy == SyncStrategy::rsync ? exclude_rule_lines(staging.path) : std::vector<std::string>{};
    PendingTreeRecord record(TreeRecord::beside(dest));
    record.write(finish_tree_record(tree, rule_lines));

    journal.phase(manifest_.sync_strategy == SyncStrategy::mv ? "mv" : "sync");
    if (manifest_.sync_strategy == SyncStrategy::mv) {
      log_.info("Move " + staging.path.string() + " to " + dest.string());
      move_tree(staging.path, dest);
      staging.path.clear();  // it is dest now
    } else {
      sync(staging.path, dest, kept, rule_lines);
    }
    try {
      record.commit();
    } catch (const std::exception& e) {
      log_.warn(std::string(e.what()) + "; haul diff cannot check dest until the next deploy");
    }
    journal.phase_best_effort("post");
    phase(HAUL_PHASE_POST, manifest_.commands.post, "", &journal);
  }

  // A first deploy into a folder that holds things haul did not put there
  // deletes what the release lacks: said loudly, before it happens.
  void warn_if_foreign(const fs::path& dest) {
    if (read_applied_release(dest)) return;
    const uint64_t entries = count_entries(dest);
    if (entries == 0) return;
    log_.warn("dest " + dest.string() + " is not empty (" + count_of(entries, "entry", "entries") +
              ") and haul has never deployed to it: whatever the release does not hold will be DELETED from it "
              "(excludes protect theirs; `haul plan` lists it all beforehand)");
  }

  static uint64_t count_entries(const fs::path& dir) {
    uint64_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      ++n;
    return n;
  }

  // The dry run: what deploy_src would do, worked out from the verified
  // stream, with nothing written.
  std::string plan() {
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
    out << "Plan for " << request_.manifest_url << " (nothing was changed)\n";
    if (manifest_.src.empty()) {
      out << "  no src: the deploy runs commands only\n";
    } else {
      const fs::path dest = fs::path(manifest_.dest).lexically_normal();
      out << "  dest:      " << dest.string() << " (sync_strategy " << to_string(manifest_.sync_strategy) << ")\n";
      const bool release = manifest_.sync_strategy == SyncStrategy::release;
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
      if (manifest_.sync_strategy == SyncStrategy::mv && fs::exists(dest))
        out << "  WARNING:   sync_strategy mv needs dest not to exist; this deploy would fail\n";
      PlanOptions opts;
      opts.excludes = manifest_.excludes;
      opts.exclude_from = manifest_.exclude_from;
      opts.apply_excludes = manifest_.sync_strategy == SyncStrategy::rsync;
      DeployPlan p;
      log_.info("Fetching " + manifest_.src + " to plan the deploy (nothing is written)");
      stream_src([&](const ChunkReader& reader) { p = plan_deploy(reader, target, manifest_.src, opts); });
      // No record of a deploy, yet something there: a folder haul never deployed to.
      const bool foreign = replaces.empty() && p.target_entries > 0;
      if (replaces.empty()) replaces = foreign ? "a folder haul has NEVER deployed to" : "nothing: dest is empty or missing";
      out << "  replaces:  " << replaces << "\n";
      out << "  artifact:  " << manifest_.src << ", " << format_bytes(bytes_fetched_) << ", " << manifest_.checksum_algorithm()
          << " verified" << (options_.trusted_keys.empty() ? "" : ", signature verified") << "\n";
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
    const auto& c = manifest_.commands;
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

  static std::string staging_prefix(const fs::path& dest) { return ".haul-staging-" + dest.filename().string() + "-"; }

  // A killed deploy leaves its staging folder beside dest (up to the size of
  // a release); under dest's lock, any such folder is a leftover.
  void remove_staging_leftovers(const fs::path& dest) {
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
        log_.warn("cannot remove the leftover staging folder " + e.path().string() + ": " + rm.message());
      else
        log_.info("removed leftover " + e.path().string() + " (the staging folder of an interrupted deploy)");
    }
  }

  JournalEntry journal_entry(const std::string& phase, const std::string& previous) const {
    return JournalEntry{phase,
                        release_id_,
                        previous,
                        request_.event_id,
                        request_.manifest_url,
                        static_cast<int>(getpid()),
                        static_cast<int64_t>(std::time(nullptr)),
                        {}};
  }

  // Signed releases: the bytes just fetched must be signed by a trusted key.
  void check_signature(const std::string& text, FetchPolicy policy) {
    const TrustedKeys keys = TrustedKeys::load(options_.trusted_keys);
    const std::string sig_url = signature_url(request_.manifest_url);
    std::string sig;
    try {
      policy.retry = 0;
      sig = fetch_text(sources_, sig_url, policy, stop_, log_);
    } catch (const std::exception& e) {
      throw Error(request_.manifest_url + " is not signed: cannot fetch " + sig_url + " (" + e.what() +
                  "); with trusted_keys every manifest must be signed (haul publish --sign KEY)");
    }
    const std::string key = keys.verify(request_.manifest_url, text, sig);
    log_.info("Signature OK: signed by trusted key " + key);
  }

  // Downgrade and replay protection: a signed manifest older than the one
  // dest runs is refused unless the operator asked for it.
  void check_not_older() {
    if (manifest_.created_at == 0)
      throw Error(request_.manifest_url + ": a signed manifest must carry created_at (haul publish writes it)");
    if (manifest_.dest.empty()) return;
    auto applied = read_applied_release(manifest_.dest);
    if (!applied || manifest_.created_at >= applied->created_at) return;
    const std::string what = "release " + (manifest_.release.empty() ? std::string("(unnamed)") : manifest_.release) +
                             " (created " + format_timestamp(manifest_.created_at) + ") is older than release " +
                             applied->release + " (created " + format_timestamp(applied->created_at) +
                             ") that " + manifest_.dest + " runs";
    if (!options_.allow_downgrade)
      throw Error(request_.manifest_url + ": " + what +
                  "; refusing a downgrade (a replayed old manifest?). To roll back on purpose use haul rollback, "
                  "or deploy it with --allow-downgrade");
    log_.warn(what + "; deploying it because the downgrade was allowed");
  }

  // What dest runs, beside it: the downgrade guard's reference, the desired
  // release check's, and the sign that haul has deployed there before.
  void record_applied(const std::string& manifest_sha256) {
    if (manifest_.dest.empty() || manifest_.src.empty()) return;
    AppliedRelease r;
    r.release = release_name();
    r.created_at = manifest_.created_at;
    r.manifest_url = request_.manifest_url;
    r.manifest_sha256 = manifest_sha256;
    r.applied_at = static_cast<int64_t>(std::time(nullptr));
    try {
      write_applied_release(manifest_.dest, r);
    } catch (const std::exception& e) {
      log_.warn(std::string("cannot record the applied release: ") + e.what());
    }
  }

  // The manifest's release id (what publish named it and pointers compare),
  // else the release folder's name; "" when neither exists.
  std::string release_name() const { return !manifest_.release.empty() ? manifest_.release : release_id_; }

  std::string derive_release_id() const {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    return std::string(stamp) + "-" + manifest_.checksum.substr(0, 8);
  }

  // sync_strategy: release — see release/release_store.hpp for the layout.
  void deploy_release(const fs::path& dest) {
    ReleaseStore store(dest);
    fs::create_directories(dest);
    DestLock lock(dest / ".haul" / "lock", options_.lock_timeout, before_start_);
    const auto previous = store.current_id();
    const std::string wanted = manifest_.release.empty() ? derive_release_id() : manifest_.release;
    release_id_ = wanted;
    JournalScope journal(DeployJournal(dest), journal_entry("fetch", previous.value_or("")), dest.string(), log_);
    if (const auto& j = journal.interrupted())
      if (auto m = store.meta(j->release); m && m->result == "deploying") store.set_result(j->release, "interrupted");
    for (const auto& left : store.remove_leftovers()) log_.info("removed leftover " + left);
    // The same release, from the same manifest, is already live (a second
    // event for it, a replayed one): nothing to do, and no copy "R-2".
    if (previous && *previous == wanted)
      if (auto live = store.meta(wanted); live && live->result == "success" && live->manifest == manifest_text_) {
        log_.info("release " + wanted + " from this manifest is already current in " + dest.string() +
                  "; nothing to do");
        return;
      }
    release_id_ = store.unique_id(wanted);
    if (release_id_ != wanted) {
      log_.warn("release " + wanted + " already exists; this one is " + release_id_);
      journal.release(release_id_);
    }
    release_dir_ = store.release_dir(release_id_).string();
    previous_dir_ = previous ? store.release_dir(*previous).string() : "";

    ReleaseMeta meta;
    meta.id = release_id_;
    meta.created_unix = std::time(nullptr);
    meta.result = "deploying";
    meta.manifest_url = request_.manifest_url;
    meta.event_id = request_.event_id;
    meta.manifest = manifest_text_;
    std::optional<ReleaseMeta> previous_meta = previous ? store.meta(*previous) : std::nullopt;
    TreeRecord tree;
    ExtractOptions extract;
    extract.record = &meta.files;
    extract.tree = &tree;
    if (previous_meta) {
      extract.reuse = &previous_meta->files;
      extract.reuse_dir = store.release_dir(*previous);
    }
    StagingFolder staging;
    staging.path = store.new_staging(release_id_);
    // Room check as soon as the source knows the artifact's size: the
    // extracted release is estimated from the previous one (or 4x the
    // artifact, a generous tar.gz ratio), plus the artifact in flight.
    const uint64_t previous_size = previous_meta ? previous_meta->size_bytes : 0;
    space_check_ = [this, dir = store.releases_dir(), previous_size](uint64_t artifact) {
      struct statvfs vfs;
      if (statvfs(dir.c_str(), &vfs) != 0) return;
      const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
      const uint64_t needed = previous_size ? previous_size : artifact * 4;
      if (free_bytes < needed)
        throw Error("not enough space for release " + release_id_ + " in " + dir.string() + ": " +
                    format_bytes(free_bytes) + " free, about " + format_bytes(needed) +
                    " needed (the previous release's size, or 4x the " + format_bytes(artifact) + " artifact)");
    };
    ExtractStats stats = fetch_and_extract_with_retry(staging.path, extract);
    if (chmod(staging.path.c_str(), manifest_.dest_mode) != 0)
      throw Error("cannot set dest_mode on the staged release: " + std::string(std::strerror(errno)));
    // Everything the switch and after need is written before the release
    // exists: its metadata and its result record, which later changes in
    // place (no new disk space needed once the release is live).
    meta.size_bytes = stats.bytes + stats.linked_bytes;
    bool committed = false;
    auto mark_failed = [&](const std::string& result) {
      try {
        if (committed) store.set_result(release_id_, result);
      } catch (const std::exception& e) {
        log_.error(std::string("cannot record release ") + release_id_ + " as " + result + ": " + e.what());
      }
    };
    try {
      store.save_meta(meta);
      write_file_durably(store.tree_path(release_id_), finish_tree_record(tree, {}).serialize());
      store.commit(staging.path, release_id_);
      committed = true;
      staging.path.clear();
      log_.info("Release " + release_id_ + " staged in " + release_dir_ + " (" +
                (previous ? count_of(stats.linked_files, "unchanged file", "unchanged files") +
                                " hard-linked from release " + *previous + ", "
                          : std::string("the first release here: ")) +
                format_bytes(stats.bytes) + " written)");
      journal.phase("pre");
      phase(HAUL_PHASE_PRE, manifest_.commands.pre, "", &journal);
      store.link_shared(release_id_, manifest_.linked_dirs, manifest_.linked_files);
      store.flush(release_id_);
      journal.phase("switch");
    } catch (...) {
      if (!committed) store.discard_meta(release_id_);
      mark_failed("failure");
      throw;
    }
    try {
      store.switch_to(release_id_);
    } catch (...) {
      mark_failed("failure");  // current still points where it did
      throw;
    }
    log_.info("current -> releases/" + release_id_ + (previous ? " (was " + *previous + ")" : ""));
    try {
      journal.phase_best_effort("post");
      phase(HAUL_PHASE_POST, manifest_.commands.post, "", &journal);
      journal.phase_best_effort("verify");
      phase(HAUL_PHASE_VERIFY, manifest_.commands.verify, "", &journal);
      store.set_result(release_id_, "success");
    } catch (const std::exception& e) {
      if (!previous) {
        log_.error(std::string(e.what()) + " — no previous release to roll back to; current stays on " + release_id_);
        mark_failed("failure");
        throw;
      }
      journal.phase_best_effort("rollback");
      try {
        store.switch_to(*previous);
      } catch (const std::exception& se) {
        log_.error(std::string(e.what()) + " — and the rollback failed: " + se.what() + "; current stays on " +
                   release_id_);
        mark_failed("failure");
        throw;
      }
      log_.error(std::string(e.what()) + " — rolled back: current -> releases/" + *previous);
      mark_failed("rolled-back");
      // The rollback commands run to their end even when haul was told to
      // abort: they bring the previous release back up.
      StopSignal never;
      try {
        phase(HAUL_PHASE_ROLLBACK, manifest_.commands.rollback, "", &journal, &never);
      } catch (const std::exception& re) {
        log_.error(re.what());
      }
      throw;
    }
    const size_t keep = static_cast<size_t>(manifest_.keep_releases ? manifest_.keep_releases : options_.keep_releases);
    journal.phase_best_effort("pruning");
    try {
      for (const auto& id : store.prune(keep))
        log_.info("removed old release " + id + " (keeping " + std::to_string(keep) + ")");
    } catch (const std::exception& e) {
      log_.warn(std::string("pruning old releases: ") + e.what());
    }
  }

  // A transfer that completed but whose bytes do not match the checksum (a
  // truncating proxy, a server that lied about Content-Length) is fetched
  // again from zero into a clean staging folder, within the retry budget.
  ExtractStats fetch_and_extract_with_retry(const fs::path& staging, ExtractOptions extract_options = {}) {
    for (int attempt = 0;; ++attempt) {
      try {
        return fetch_and_extract(staging, extract_options);
      } catch (const Error& e) {
        // Only a transfer that ended wrong or an object that changed mid-way
        // is fetched again here; other failures were already retried.
        const bool changed = dynamic_cast<const SourceChanged*>(&e) != nullptr;
        if (!dynamic_cast<const ChecksumMismatch*>(&e) && !changed) throw;
        // A changed object is not a fault: it gets one fresh start even with retry 0.
        if (attempt >= std::max(options_.retry, changed ? 1 : 0)) throw;
        log_.warn(std::string(e.what()) + "; fetching the whole artifact again (retry " + std::to_string(attempt + 1) +
                  "/" + std::to_string(std::max(options_.retry, 1)) + ")");
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(staging, ec)) fs::remove_all(entry.path(), ec);
        if (extract_options.record) extract_options.record->clear();
        if (extract_options.kept) extract_options.kept->clear();
        if (extract_options.tree) extract_options.tree->clear();
        if (!stop_.sleep_for(options_.retry_wait)) throw;
      }
    }
  }

  ExtractStats fetch_and_extract(const fs::path& staging, ExtractOptions extract_options = {}) {
    extract_options.limits.max_bytes = options_.max_extract_bytes;
    extract_options.limits.max_entries = options_.max_entries;
    extract_options.limits.max_ratio = options_.max_compression_ratio;
    extract_options.limits.allow_setuid = options_.allow_setuid;
    log_.info("Fetching " + manifest_.src + " into " + staging.string());
    ExtractStats stats;
    stream_src([&](const ChunkReader& reader) { stats = extract_archive(reader, staging, manifest_.src, extract_options); });
    log_.info("Extracted " + count_of(stats.entries, "entry", "entries") + " (" + format_bytes(stats.bytes) + ")" +
              (stats.kept_files ? "; " + count_of(stats.kept_files, "file", "files") +
                                      " unchanged in dest (same size, mtime and content) not written"
                                : "") +
              (stats.rewritten_same_stamp ? "; " + count_of(stats.rewritten_same_stamp, "file", "files") +
                                                " with dest's size and mtime but new content written"
                                          : ""));
    if (stats.dropped_setuid)
      log_.warn("dropped the setuid/setgid bits of " + std::to_string(stats.dropped_setuid) +
                " file(s); set deploy.allow_setuid: true to keep them");
    return stats;
  }

  // Streams src once — the fetch thread hashes and queues the bytes, gzip
  // and zstd decompress on a thread of their own — into consume(), then
  // verifies the checksum. consume's error is reported after the checksum:
  // a corrupt download reads as a checksum mismatch, not as a broken archive.
  void stream_src(const std::function<void(const ChunkReader&)>& consume) {
    const std::string& src = manifest_.src;
    Hasher hasher(manifest_.checksum_algorithm());
    BytePipe pipe;
    std::string fetch_error;
    bool source_changed = false;
    FetchOutcome fetched;
    TransferProgress progress(src, log_, isatty(STDERR_FILENO) != 0);
    std::thread fetcher([&] {
      try {
        FetchPolicy policy = fetch_policy();
        policy.on_total_size = [&](uint64_t total) {
          progress.set_total(total);
          if (space_check_) space_check_(total);
        };
        fetched = fetch_stream(sources_, src, policy, stop_, log_, [&](const void* d, size_t n) {
          hasher.update(d, n);
          progress.add(n);
          return pipe.push(d, n);
        });
        pipe.close_write();
      } catch (const std::exception& e) {
        fetch_error = e.what();
        source_changed = dynamic_cast<const SourceChanged*>(&e) != nullptr;
        pipe.close_write(fetch_error);
      }
    });
    ChunkReader raw = [&]() -> std::pair<const void*, size_t> {
      const auto& chunk = pipe.pop();
      if (chunk.empty()) {
        if (auto err = pipe.error()) throw Error(*err);
        return {nullptr, 0};
      }
      return {chunk.data(), chunk.size()};
    };
    std::string consume_error;
    // Declared out here: the decompression thread reads them until stop() below.
    std::pair<const void*, size_t> first{nullptr, 0};
    bool first_taken = false;
    std::unique_ptr<DecompressThread> decompress;
    try {
      // The first chunk decides: gzip and zstd decompress on their own thread.
      first = raw();
      ChunkReader compressed = [&]() -> std::pair<const void*, size_t> {
        if (!first_taken) {
          first_taken = true;
          if (first.second) return first;
        }
        return raw();
      };
      ChunkReader reader = compressed;
      if (const Codec codec = threaded_codec_for(first.first, first.second); codec != Codec::none) {
        decompress = std::make_unique<DecompressThread>(codec, compressed, src, options_.max_compression_ratio);
        reader = [&] { return decompress->next(); };
      }
      consume(reader);
    } catch (const std::exception& e) {
      consume_error = e.what();
    }
    if (decompress) decompress->stop();  // before the drain below: one consumer of the pipe at a time
    // Read to the end either way: the digest must cover every byte, and a
    // corrupt download should be reported as a checksum mismatch.
    while (fetch_error.empty() && !pipe.pop().empty()) {
    }
    pipe.close_read();
    fetcher.join();
    const std::string transferred = progress.finish();
    if (source_changed) throw SourceChanged(fetch_error);
    if (!fetch_error.empty()) throw Error(fetch_error);
    bytes_fetched_ = fetched.bytes;
    log_.info("Fetched " + src + ": " + transferred);
    const std::string sum = hasher.hex_digest();
    if (sum != manifest_.checksum)
      throw ChecksumMismatch("checksum mismatch for " + src + ": expected " + manifest_.checksum + ", got " + sum + " (" +
                  manifest_.checksum_algorithm() + "); dest left untouched");
    log_.info("Checksum ok: " + sum + " (" + manifest_.checksum_algorithm() + ")");
    if (!consume_error.empty()) throw Error(consume_error);
  }

  // The sync's exclude rules as exclude-file lines: the manifest's
  // excludes, then exclude_from's lines (read from the staged release).
  std::vector<std::string> exclude_rule_lines(const fs::path& staging) {
    std::vector<std::string> lines;
    for (const auto& p : manifest_.excludes) lines.push_back("- " + p);
    if (!manifest_.exclude_from.empty()) {
      const fs::path rel = fs::path(manifest_.exclude_from).lexically_normal();
      if (rel.is_absolute() || rel.empty() || *rel.begin() == "..")
        throw Error("exclude_from: '" + manifest_.exclude_from +
                    "' must be a path inside the archive, like config/exclude.txt");
      std::ifstream in(staging / rel);
      if (!in) throw Error("exclude_from: '" + manifest_.exclude_from + "' is not a file in the archive " + manifest_.src);
      std::string line;
      while (std::getline(in, line)) lines.push_back(line);
    }
    return lines;
  }

  // What the deploy places, as `haul diff` will compare it.
  TreeRecord& finish_tree_record(TreeRecord& tree, const std::vector<std::string>& rule_lines) {
    tree.release = release_name();
    tree.manifest_url = request_.manifest_url;
    tree.rules = rule_lines;
    tree.linked = manifest_.linked_dirs;
    tree.linked.insert(tree.linked.end(), manifest_.linked_files.begin(), manifest_.linked_files.end());
    tree.finish();
    tree.drop_excluded(tree.exclude_rules());
    return tree;
  }

  void sync(const fs::path& staging, const fs::path& dest, const KeptIndex& kept,
            const std::vector<std::string>& rule_lines) {
    ExcludeRules rules;
    for (const auto& line : rule_lines) rules.add_line(line);
    const auto verbosity = std::count(options_.rsync_verbose.begin(), options_.rsync_verbose.end(), 'v');
    log_.info("Sync " + staging.string() + "/ to " + dest.string() + " (rsync -a --delete semantics)");
    SyncReporter report;
    if (verbosity > 0)
      report = [&](const char* action, const std::string& path) {
        log_.info(*action ? std::string(action) + " " + path : path);
      };
    SyncStats s = sync_tree(staging, dest, rules, report, &kept);
    log_.info("Sync done: " + std::to_string(s.written) + " written, " + std::to_string(s.unchanged) +
              " unchanged, " + std::to_string(s.deleted) + " deleted" +
              (s.protected_by_exclude ? ", " + std::to_string(s.protected_by_exclude) + " kept by excludes" : ""));
  }

  // Calls every hook for a phase. Throws the first hook's error.
  // journal: records the hook commands' process groups while they run.
  // stop: what cancels the commands (the deploy's abort signal by default).
  void phase(haul_phase p, const std::vector<std::string>& commands, const std::string& error = "",
             JournalScope* journal = nullptr, StopSignal* stop = nullptr) {
    PhaseInfo info;
    info.phase = p;
    info.commands = commands;
    info.pipeline = pipeline_;
    info.event_id = request_.event_id;
    info.event_ltime = request_.event_ltime;
    info.manifest_url = request_.manifest_url;
    info.dest = manifest_.dest;
    info.release = release_name();
    info.release_dir = release_dir_;
    info.previous_release_dir = previous_dir_;
    info.error = error;
    info.started_at_unix_ms = started_at_ms_;
    info.finished_at_unix_ms = finished_at_ms_;
    info.command_timeout = manifest_.command_timeout;
    if (journal) info.on_process = [journal](int64_t pgid, bool running) { journal->process(pgid, running); };
    run_hook_phase(hooks_, info, log_, stop ? *stop : stop_);
  }

  // success/failure: a failing hook is logged, never changes the result.
  // They run even after an abort (with their own timeouts): the failure
  // notice is how an operator learns that a deploy was aborted.
  void finish_phase(haul_phase p, const std::vector<std::string>& commands, const std::string& error) {
    StopSignal never;
    try {
      phase(p, commands, error, nullptr, &never);
    } catch (const std::exception& e) {
      log_.error(e.what());
    }
  }

  const std::string& pipeline_;
  const SourceSet& sources_;
  const std::vector<HookInstance*>& hooks_;
  const DeployOptions& options_;
  const DeployRequest& request_;
  StopSignal& stop_;  // abort: stop now, safely
  StopSignal before_start_;  // raised by a shutdown request or an abort
  int abort_listener_ = 0;
  std::pair<StopSignal*, int> stopping_listener_{nullptr, 0};
  DeployLog log_;
  Manifest manifest_;
  uint64_t started_at_ms_ = 0, finished_at_ms_ = 0;
  std::string manifest_text_;
  std::string release_id_, release_dir_, previous_dir_;  // release strategy
  std::function<void(uint64_t)> space_check_;
  uint64_t bytes_fetched_ = 0;
};

}  // namespace

FetchPolicy fetch_policy_for(const DeployOptions& options) {
  FetchPolicy p;
  p.retry = options.retry;
  p.retry_wait = options.retry_wait;
  p.timeout = options.timeout;
  p.max_bandwidth_bytes_per_s = options.max_bandwidth_bytes_per_s;
  return p;
}

uint64_t unix_ms_now() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

DeployEngine::DeployEngine(std::string pipeline, const SourceSet& sources, std::vector<HookInstance*> hooks,
                           DeployOptions options)
    : pipeline_(std::move(pipeline)), sources_(sources), hooks_(std::move(hooks)), options_(std::move(options)) {}

DeployResult DeployEngine::run(const DeployRequest& request, StopSignal& abort, StopSignal* stopping) {
  return Deploy(pipeline_, sources_, hooks_, options_, request, abort, stopping).run();
}

}  // namespace haul
