// SPDX-License-Identifier: Apache-2.0
// Exactly-once deploys: per pipeline, what was last applied, persisted in
// state_dir with an atomic write (temp file, fsync, rename, fsync of the
// folder), so that an event already applied is never applied again — not
// after an agent restart, a consul watch restart, nor a replay of Consul's
// whole 256-event buffer. Dedup is by event ID (a new event with the same
// manifest URL is a deliberate redeploy) and by Lamport time (an event older
// than the last applied one is stale). Events without an ID (a plain URL on
// stdin) are always applied.
//
// When Consul loses its state (a dev agent restarted, a cluster rebuilt),
// its event clock starts again at 1: every new event looks older than the
// last one applied. An unknown event ID with a lower Lamport time is
// therefore not dropped as stale but taken as a reset: it is deployed unless
// its manifest is the one the last deploy applied (a replay of an old event
// for the same role's manifest URL changes nothing). The same event ID is
// never applied twice.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

namespace haul {

struct AppliedEvent {
  std::string id;
  uint64_t ltime = 0;
  std::string manifest_url, manifest_sha256;
  std::string result;  // "success" | "failure"
  std::string error;
  uint64_t finished_at_unix_ms = 0;
};

class AppliedEvents {
 public:
  // Loads state_dir/<pipeline>.json if it exists. A corrupt file is an error
  // naming it (never silently treated as "nothing applied").
  AppliedEvents(const std::filesystem::path& state_dir, const std::string& pipeline);

  struct Decision {
    enum Kind { apply = 1, skip, apply_unless_running } kind = apply;
    std::string why;  // skip and apply_unless_running: for the log
    // apply_unless_running: the manifest sha256 the last successful deploy
    // applied; a deploy whose manifest has it is not done again.
    std::string running_manifest_sha256;
  };
  Decision decide(const std::string& id, uint64_t ltime) const;
  // Why an event is skipped ("" = apply it, perhaps unless running).
  std::string skip_reason(const std::string& id, uint64_t ltime) const {
    const Decision d = decide(id, ltime);
    return d.kind == Decision::skip ? d.why : "";
  }
  void record(const AppliedEvent& e);
  std::optional<AppliedEvent> last() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  void save() const;
  std::filesystem::path path_;
  mutable std::mutex mu_;
  std::optional<AppliedEvent> last_;
  std::deque<std::string> recent_ids_;  // the IDs of the last 256 applied events
};

}  // namespace haul
