// SPDX-License-Identifier: Apache-2.0
// The safety net under best-effort events: a pipeline with `desired:` reads
// the desired-release pointer and decides whether this host must deploy.
// "Applied" is what dest runs (release/applied_release.hpp), so the check
// needs the manifest's dest: the manifest is read (it is small) and its dest
// remembered per manifest sha256. A pointer naming the release dest runs is
// up to date; one naming the release an operator rolled back from is pinned
// (`haul rollback`) until the pointer changes; anything else is deployed —
// through the pipeline's own dispatcher, lock, dedup and signature checks,
// with the manifest held to the sha256 the pointer names. A deploy of a
// pointer that failed is retried with back-off, not at every check.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "config/desired_pointer.hpp"
#include "deploy/deploy_engine.hpp"
#include "transfer/fetcher.hpp"
#include "util/stop_signal.hpp"

namespace haul {

struct ReconcileDecision {
  enum Kind { up_to_date, pinned, deploy, backing_off } kind = up_to_date;
  DesiredPointer pointer;
  std::string applied_release;  // what dest runs ("" if nothing recorded)
  std::string dest;
  std::string why;              // one line for the log
  DeployRequest request;        // for deploy
};

class Reconciler {
 public:
  // retry_base: the first wait before a failed deploy of the same pointer is
  // tried again (doubling up to an hour); the agent passes its interval.
  Reconciler(std::string pipeline, std::string desired_url, const SourceSet& sources, FetchPolicy policy,
             std::chrono::milliseconds retry_base);

  // Throws haul::Error when the pointer or its manifest cannot be read or
  // makes no sense (the caller logs it and retries with back-off).
  ReconcileDecision check(StopSignal& stop);
  // What became of a deploy of this pipeline, whoever asked for it (an
  // event too): a failed manifest backs off before the check tries it again.
  void deployed(const std::string& manifest_sha256, bool ok);

  const std::string& desired_url() const { return url_; }

 private:
  std::string pipeline_, url_;
  const SourceSet& sources_;
  FetchPolicy policy_;
  std::chrono::milliseconds retry_base_;
  std::mutex mu_;
  std::map<std::string, std::string> dest_by_manifest_;  // manifest sha256 → dest
  std::string failed_sha_;
  int failures_ = 0;
  std::chrono::steady_clock::time_point retry_at_{};
};

// Back-off for a failing pointer or store: base × 2^(failures-1), capped.
std::chrono::milliseconds reconcile_backoff(std::chrono::milliseconds base, int failures,
                                            std::chrono::milliseconds cap);

}  // namespace haul
