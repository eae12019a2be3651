// SPDX-License-Identifier: Apache-2.0
// Fetching through source plugins: picks the plugin by URL scheme, and wraps
// every fetch in the policy stretcher's flags describe — retries with a wait,
// resume from the last byte received (the consumer never sees a byte twice)
// and only from the version of the object the transfer started on, a
// bandwidth cap, and an overall timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/deploy_log.hpp"
#include "plugin/instance.hpp"
#include "util/stop_signal.hpp"

namespace haul {

class SourceSet {
 public:
  void add(std::unique_ptr<SourceInstance> source);
  // The source serving url's scheme; an error lists the schemes available.
  SourceInstance& for_url(const std::string& url) const;
  std::vector<std::string> schemes() const;
  // The same sources, as new instances (see SourceInstance::twin).
  SourceSet twin() const;

 private:
  std::vector<std::unique_ptr<SourceInstance>> sources_;
  std::map<std::string, SourceInstance*> by_scheme_;
};

struct FetchPolicy {
  // Told the object's total size when the source learns it (Content-Length);
  // throwing from it aborts the fetch with that error (e.g. no disk space).
  std::function<void(uint64_t)> on_total_size;
  int retry = 0;
  std::chrono::milliseconds retry_wait{3000};
  // Retry a missing object or refused access (404, 403, 401) too: a publish
  // may land seconds after the event. Off: those fail at once.
  bool retry_missing = false;
  std::chrono::milliseconds timeout{0};  // 0 = none
  uint64_t max_bandwidth_bytes_per_s = 0;  // 0 = unlimited
};

// consume gets every byte once, in order; returning false stops the fetch
// (fetch_stream then returns normally with stopped = true). A transfer that
// must start over — the object changed under a resume, or the source named
// no version to pin a resume to — calls rewind, after which consume gets the
// bytes again from the range's start; without a rewind (the consumer cannot
// take them back), fetch_stream throws Error::Kind::source_changed instead.
struct FetchOutcome {
  uint64_t bytes = 0;
  bool stopped_by_consumer = false;
};
// Part of an object: `length` bytes from `offset` (0 = to the end).
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};
FetchOutcome fetch_stream(const SourceSet& sources, const std::string& url, const FetchPolicy& policy,
                          StopSignal& stop, DeployLog& log,
                          const std::function<bool(const void*, size_t)>& consume, ByteRange range = {},
                          const std::function<void()>& rewind = {});

// A small document (a manifest) into memory; larger than max_bytes is an error.
std::string fetch_text(const SourceSet& sources, const std::string& url, const FetchPolicy& policy,
                       StopSignal& stop, DeployLog& log, size_t max_bytes = 4 << 20);

}  // namespace haul
