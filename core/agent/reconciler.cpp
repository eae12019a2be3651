// SPDX-License-Identifier: Apache-2.0
#include "agent/reconciler.hpp"

#include <algorithm>

#include "config/manifest.hpp"
#include "util/deploy_log.hpp"
#include "util/digest.hpp"
#include "release/applied_release.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {

std::chrono::milliseconds reconcile_backoff(std::chrono::milliseconds base, int failures,
                                            std::chrono::milliseconds cap) {
  const int shift = std::clamp(failures - 1, 0, 16);
  const auto wait = base * (int64_t{1} << shift);
  return std::min(wait, cap);
}

Reconciler::Reconciler(std::string pipeline, std::string desired_url, const SourceSet& sources, FetchPolicy policy,
                       std::chrono::milliseconds retry_base)
    : pipeline_(std::move(pipeline)),
      url_(std::move(desired_url)),
      sources_(sources),
      policy_(std::move(policy)),
      retry_base_(retry_base) {
  policy_.on_total_size = nullptr;
  policy_.timeout = std::chrono::seconds(60);
}

ReconcileDecision Reconciler::check(StopSignal& stop) {
  DeployLog log(pipeline_);
  ReconcileDecision d;
  d.pointer = parse_desired_pointer(fetch_text(sources_, url_, policy_, stop, log, 64 << 10), url_);
  const DesiredPointer& p = d.pointer;

  std::string dest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = dest_by_manifest_.find(p.manifest_sha256);
    if (it != dest_by_manifest_.end()) dest = it->second;
  }
  if (dest.empty()) {
    const std::string text = fetch_text(sources_, p.manifest_url, policy_, stop, log);
    const std::string sum = sha256_hex(text);
    if (sum != p.manifest_sha256)
      throw Error(url_ + " names " + p.manifest_url + " with sha256 " + p.manifest_sha256 + ", but it has " + sum +
                  " (written since the pointer, or altered); checking again later");
    dest = parse_manifest(text, p.manifest_url).dest;
    if (dest.empty()) throw Error(p.manifest_url + ": has no dest, so there is no release to reconcile");
    std::lock_guard<std::mutex> lock(mu_);
    dest_by_manifest_[p.manifest_sha256] = dest;
  }
  d.dest = dest;
  const auto applied = read_applied_release(dest);
  d.applied_release = applied ? applied->release : "";
  if (applied && applied->release == p.release) {
    d.kind = ReconcileDecision::up_to_date;
    d.why = dest + " runs the desired release " + p.release;
    return d;
  }
  if (applied && !applied->pinned_from.empty() && applied->pinned_from == p.release) {
    d.kind = ReconcileDecision::pinned;
    d.why = dest + " was rolled back from " + p.release + " to " + applied->release +
            " by an operator; leaving it until the desired release changes";
    return d;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_sha_ == p.manifest_sha256 && std::chrono::steady_clock::now() < retry_at_) {
      d.kind = ReconcileDecision::backing_off;
      d.why = "the deploy of desired release " + p.release + " failed " + std::to_string(failures_) +
              " time(s) here; next attempt in " +
              format_duration(std::chrono::duration_cast<std::chrono::seconds>(retry_at_ - std::chrono::steady_clock::now()) +
                              std::chrono::seconds(1));
      return d;
    }
  }
  d.kind = ReconcileDecision::deploy;
  d.why = dest + " runs " + (d.applied_release.empty() ? std::string("no recorded release") : d.applied_release) +
          "; the desired release is " + p.release;
  d.request.manifest_url = p.manifest_url;
  d.request.expected_manifest_sha256 = p.manifest_sha256;
  return d;
}

void Reconciler::deployed(const std::string& manifest_sha256, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ok) {
    if (manifest_sha256 == failed_sha_) {  // another manifest's success says nothing of this one
      failed_sha_.clear();
      failures_ = 0;
    }
    return;
  }
  failures_ = failed_sha_ == manifest_sha256 ? failures_ + 1 : 1;
  failed_sha_ = manifest_sha256;
  retry_at_ = std::chrono::steady_clock::now() +
              reconcile_backoff(retry_base_, failures_, std::chrono::hours(1));
}

}  // namespace haul
