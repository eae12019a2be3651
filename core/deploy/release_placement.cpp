// SPDX-License-Identifier: Apache-2.0
#include "deploy/release_placement.hpp"

#include <sys/statvfs.h>

#include <ctime>
#include <optional>

#include "deploy/artifact_stream.hpp"
#include "deploy/deploy_hooks.hpp"
#include "deploy/staging.hpp"
#include "release/dest_lock.hpp"
#include "deploy/journal_scope.hpp"
#include "release/release_store.hpp"
#include "util/crash_point.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace fs = std::filesystem;
namespace {

std::string derive_release_id(const Manifest& m) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
  return std::string(stamp) + "-" + m.checksum.substr(0, 8);
}

class ReleasePlacement final : public Placement, private RoomCheck {
 public:
  ReleasePlacement(DeployContext& ctx, const fs::path& dest)
      : ctx_(ctx), dest_(dest), store_(dest), lock_(lock_path(dest), ctx.options.lock_timeout, ctx.before_start),
        previous_(store_.current_id()), wanted_(wanted_id(ctx)),
        journal_scope_(DeployJournal(dest), journal_entry(ctx, "fetch", previous_.value_or("")), dest.string(),
                       ctx.log) {
    journal_ = &journal_scope_;
  }

  // Extracted into a staging folder of the store, unchanged files
  // hard-linked from the previous release.
  bool stage() override {
    crash_point("release-journal-taken-over");  // a kill here leaves the journal naming this deploy alone
    clean_up_after_interrupted();
    if (already_live()) return false;
    replace_failed(wanted_);
    const std::string& id = ctx_.release_id = store_.unique_id(wanted_);
    if (id != wanted_) {
      ctx_.log.warn("release " + wanted_ + " already exists; this one is " + id);
      journal_scope_.release(id);
    }
    ctx_.release_dir = store_.release_dir(id).string();
    ctx_.previous_dir = previous_ ? store_.release_dir(*previous_).string() : "";
    meta_.id = id;
    meta_.created_unix = std::time(nullptr);
    meta_.result = "deploying";
    meta_.manifest_url = ctx_.request.manifest_url;
    meta_.event_id = ctx_.request.event_id;
    meta_.manifest = ctx_.manifest_text;
    previous_meta_ = previous_ ? store_.meta(*previous_) : std::nullopt;
    tree_.emplace(store_.tree_path(id));
    ExtractOptions extract;
    extract.record = &meta_.files;
    extract.sinks = {&*tree_};
    if (previous_meta_) {
      extract.reuse = &previous_meta_->files;
      extract.reuse_dir = store_.release_dir(*previous_);
    }
    staging_.path = store_.new_staging(id);
    stats_ = fetch_and_extract(ctx_, staging_.path, extract, {nullptr, this});
    return true;
  }

  // Committed as releases/<id>, not live. Everything the switch and after
  // need is written before the release exists: its metadata, content record
  // and result record, which later changes in place (no new disk space
  // needed once it is live).
  void prepare() override {
    const std::string& id = ctx_.release_id;
    apply_dest_mode(ctx_, staging_.path);
    meta_.size_bytes = stats_.bytes + stats_.linked_bytes;
    store_.save_meta(meta_);
    tree_->finish(tree_record_meta(ctx_, {}));
    tree_->commit();
    store_.commit(staging_.path, id);
    committed_ = true;
    staging_.path.clear();
    ctx_.log.info("Release " + id + " staged in " + ctx_.release_dir + " (" +
                  (previous_ ? count_of(stats_.linked_files, "unchanged file", "unchanged files") +
                                   " hard-linked from release " + *previous_ + ", "
                             : std::string("the first release here: ")) +
                  format_bytes(stats_.bytes) + " written)");
  }

  // Shared paths linked, flushed, then `current` switched atomically.
  void commit() override {
    store_.link_shared(ctx_.release_id, ctx_.manifest.linked_dirs, ctx_.manifest.linked_files);
    store_.flush(ctx_.release_id);
    journal("switch");
    store_.switch_to(ctx_.release_id);  // throws with current still where it was
    dest_changed_ = true;
    ctx_.dest_state = DeployContext::DestState::placed;
    ctx_.log.info("current -> releases/" + ctx_.release_id + (previous_ ? " (was " + *previous_ + ")" : ""));
  }

  bool can_undo() const override { return true; }

  void settle() override {
    store_.set_result(ctx_.release_id, "success");
    ctx_.switched = true;
    ctx_.previous_id = previous_.value_or("");
    prune();
  }

  // Live: back to the previous release. Not yet: the release, if committed,
  // is recorded as failed (never a rollback target), its leftovers removed.
  void fail(const std::string& why) override {
    if (ctx_.dest_state == DeployContext::DestState::placed) return roll_back(why);
    if (!committed_) store_.discard_meta(ctx_.release_id);
    mark("failure");
  }

 private:
  static fs::path lock_path(const fs::path& dest) {
    fs::create_directories(dest / ".haul");
    return dest / ".haul" / "lock";
  }

  // The manifest's release id, or one made of the time and the checksum;
  // the journal names it from the start.
  static std::string wanted_id(DeployContext& ctx) {
    ctx.release_id = ctx.manifest.release.empty() ? derive_release_id(ctx.manifest) : ctx.manifest.release;
    return ctx.release_id;
  }

  // Not only what the journal names: the journal names the last deploy,
  // which may have been killed while it took over from one before it.
  void clean_up_after_interrupted() {
    for (const auto& id : store_.mark_interrupted())
      ctx_.log.info("release " + id + " was left deploying by an interrupted deploy; recorded it as interrupted");
    for (const auto& left : store_.remove_leftovers()) ctx_.log.info("removed leftover " + left);
  }

  // This manifest's release is already live — a second event for it, a
  // replayed one, or the same deploy again after a rollback made it R-2 —
  // so there is nothing to do, and no copy … each time.
  bool already_live() {
    if (!previous_) return false;
    auto live = store_.meta(*previous_);
    if (!live || live->result != "success" || live->manifest != ctx_.manifest_text) return false;
    ctx_.release_id = *previous_;
    ctx_.log.info("release " + *previous_ + " from this manifest is already current in " + dest_.string() +
                  "; nothing to do");
    return true;
  }

  // A release that failed here (or was cut short) is not kept beside its
  // retry as …: the retry takes its place and its name, so the
  // folder, HAUL_RELEASE and the status agree.
  void replace_failed(const std::string& wanted) {
    if (previous_ && *previous_ == wanted) return;
    const auto old = store_.meta(wanted);
    if (!old || (old->result != "failure" && old->result != "interrupted")) return;
    store_.remove_release(wanted);
    ctx_.log.info("release " + wanted + " failed here before (" + old->result + "); this deploy replaces it");
  }

  // The room check, as soon as the source knows the artifact's size: the
  // extracted release is estimated from the previous one (or 4x the
  // artifact, a generous tar.gz ratio)...
  void artifact_size(uint64_t artifact) const override {
    check_room(previous_size() ? previous_size() : artifact * 4,
               "the previous release's size, or 4x the " + format_bytes(artifact) + " artifact");
  }
  // ...and a chunked release states its size: the estimate without a previous release.
  void release_size(uint64_t bytes) const override {
    check_room(previous_size() ? previous_size() : bytes,
               previous_size() ? "the previous release's size" : "the size its release index states");
  }
  uint64_t previous_size() const { return previous_meta_ ? previous_meta_->size_bytes : 0; }

  void check_room(uint64_t needed, const std::string& why) const {
    struct statvfs vfs;
    const fs::path dir = store_.releases_dir();
    if (statvfs(dir.c_str(), &vfs) != 0) return;
    const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (free_bytes < needed)
      throw Error("not enough space for release " + ctx_.release_id + " in " + dir.string() + ": " +
                  format_bytes(free_bytes) + " free, about " + format_bytes(needed) + " needed (" + why + ")");
  }

  // post, verify or the record of success failed with the new release
  // live: back to the previous one, and its rollback commands.
  void roll_back(const std::string& why) {
    if (!previous_) {
      ctx_.log.error(why + " — no previous release to roll back to; current stays on " + ctx_.release_id);
      mark("failure");
      return;
    }
    journal("rollback");
    try {
      store_.switch_to(*previous_);
    } catch (const std::exception& se) {
      ctx_.log.error(why + " — and the rollback failed: " + se.what() + "; current stays on " + ctx_.release_id);
      mark("failure");
      return;
    }
    ctx_.dest_state = DeployContext::DestState::rolled_back;
    ctx_.log.error(why + " — rolled back: current -> releases/" + *previous_);
    mark("failure");  // not "rolled-back" (an operator's): a rollback to it needs --force
    // The rollback commands run to their end even when haul was told to
    // abort: they bring the previous release back up.
    StopSignal never;
    try {
      run_phase(ctx_, HAUL_PHASE_ROLLBACK, ctx_.manifest.commands.rollback, journal_, &never);
    } catch (const std::exception& re) {
      ctx_.log.error(re.what());
    }
  }

  void prune() {
    const auto keep = static_cast<size_t>(ctx_.manifest.keep_releases ? ctx_.manifest.keep_releases
                                                                       : ctx_.options.keep_releases);
    journal("pruning");
    try {
      for (const auto& id : store_.prune(keep))
        ctx_.log.info("removed old release " + id + " (keeping " + std::to_string(keep) + ")");
    } catch (const std::exception& e) {
      ctx_.log.warn(std::string("pruning old releases: ") + e.what());
    }
  }

  // The release's result, once it is committed; a failure to record it is
  // logged (the release stays "deploying": never a rollback target).
  void mark(const std::string& result) {
    if (!committed_) return;
    try {
      store_.set_result(ctx_.release_id, result);
    } catch (const std::exception& e) {
      ctx_.log.error("cannot record release " + ctx_.release_id + " as " + result + ": " + e.what());
    }
  }

  DeployContext& ctx_;
  const fs::path dest_;
  ReleaseStore store_;
  DestLock lock_;
  const std::optional<std::string> previous_;
  const std::string wanted_;
  JournalScope journal_scope_;
  StagingFolder staging_;
  ReleaseMeta meta_;
  std::optional<ReleaseMeta> previous_meta_;
  std::optional<TreeRecordWriter> tree_;
  ExtractStats stats_;
  bool committed_ = false;  // releases/<id> exists
};

}  // namespace

std::unique_ptr<Placement> release_placement(DeployContext& ctx, const fs::path& dest) {
  return std::make_unique<ReleasePlacement>(ctx, dest);
}

}  // namespace haul
