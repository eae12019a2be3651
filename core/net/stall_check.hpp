// SPDX-License-Identifier: Apache-2.0
// When a download counts as stalled: fewer than low_speed_limit bytes per
// second over the last low_speed_time — the rule of libcurl's
// CURLOPT_LOW_SPEED_*, applied to the bytes of that window itself. libcurl
// averages its speed over about five seconds, so a transfer that stopped dead
// was declared stalled only 6-7 s after the setting; here it is within one
// progress tick (libcurl calls back at least once a second while idle).
// Time comes in as an argument, so the rule is tested without waiting.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>

namespace haul::net {

class StallCheck {
 public:
  using Clock = std::chrono::steady_clock;
  StallCheck(long limit_bytes_per_s, long time_s)
      : limit_(std::max(1L, limit_bytes_per_s)), window_(std::chrono::seconds(std::max(1L, time_s))) {}

  // received: bytes so far. True once a whole window has been watched and
  // fewer than limit x time bytes arrived in it.
  bool stalled(uint64_t received, Clock::time_point now) {
    samples_.push_back({now, received});
    while (samples_.size() > 1 && samples_[1].at <= now - window_) samples_.pop_front();
    const Sample& oldest = samples_.front();
    if (oldest.at > now - window_) return false;
    const double seconds = std::chrono::duration<double>(window_).count();
    return static_cast<double>(received - oldest.received) < static_cast<double>(limit_) * seconds;
  }

 private:
  struct Sample {
    Clock::time_point at;
    uint64_t received;
  };
  long limit_;
  Clock::duration window_;
  std::deque<Sample> samples_;
};

}  // namespace haul::net
