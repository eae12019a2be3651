// SPDX-License-Identifier: Apache-2.0
// Progress of a download an operator is waiting for. On a terminal: one
// live line (bytes, total when known, rate, time left), redrawn at most five
// times a second and cleared at the end. Elsewhere (a log file, journald):
// a log line every 10 s, so a 200 MB download is not 10 s of silence.
// add() is called from the fetch thread, the rest from the deploy's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "util/deploy_log.hpp"

namespace haul {

class TransferProgress {
 public:
  using Clock = std::chrono::steady_clock;
  TransferProgress(std::string what, DeployLog& log, bool terminal);
  void set_total(uint64_t bytes) { total_ = bytes; }
  void add(size_t bytes);
  // Clears the terminal line. The text for a final log line: "52.8 MB in
  // 800ms (66.0 MB/s)".
  std::string finish();
  // "12.0 MB of 52.8 MB (22%), 15.0 MB/s, 3s left"
  static std::string describe(uint64_t done, uint64_t total, double seconds);

 private:
  std::string what_;
  DeployLog& log_;
  bool terminal_;
  std::atomic<uint64_t> total_{0};
  uint64_t done_ = 0;
  Clock::time_point start_, last_shown_;
  bool drawn_ = false;
};

}  // namespace haul
