// SPDX-License-Identifier: Apache-2.0
// The stall rule of the http and s3 sources, on a clock the test drives:
// a transfer that stops dead is stalled exactly one window later, not the
// 6-7 s later libcurl's own averaged check said so.
#include <gtest/gtest.h>

#include "net/stall_check.hpp"

using haul::net::StallCheck;
using std::chrono::milliseconds;

TEST(StallCheck, ATransferThatStopsIsStalledOneWindowLater) {
  StallCheck check(1, 3);  // under 1 byte/s over 3 s
  const auto t0 = StallCheck::Clock::now();
  uint64_t received = 0;
  // Flowing for 10 s, a tick every 100 ms.
  for (int ms = 0; ms <= 10000; ms += 100) {
    received += 5000;
    EXPECT_FALSE(check.stalled(received, t0 + milliseconds(ms))) << ms;
  }
  // Then nothing: still fine until the last byte is 3 s old.
  for (int ms = 10100; ms < 13000; ms += 100) EXPECT_FALSE(check.stalled(received, t0 + milliseconds(ms))) << ms;
  EXPECT_TRUE(check.stalled(received, t0 + milliseconds(13000)));
}

TEST(StallCheck, ASlowButSteadyTransferIsNotStalledAndOneUnderTheLimitIs) {
  StallCheck steady(100, 2), slow(100, 2);
  const auto t0 = StallCheck::Clock::now();
  for (int s = 0; s <= 20; ++s) {
    EXPECT_FALSE(steady.stalled(static_cast<uint64_t>(s) * 100, t0 + std::chrono::seconds(s))) << s;
  }
  bool stalled = false;
  for (int s = 0; s <= 20 && !stalled; ++s) stalled = slow.stalled(static_cast<uint64_t>(s) * 99, t0 + std::chrono::seconds(s));
  EXPECT_TRUE(stalled);
}

TEST(StallCheck, NothingIsJudgedBeforeAWholeWindowWasWatched) {
  StallCheck check(1000, 5);
  const auto t0 = StallCheck::Clock::now();
  EXPECT_FALSE(check.stalled(0, t0));
  EXPECT_FALSE(check.stalled(0, t0 + milliseconds(4999)));
  EXPECT_TRUE(check.stalled(0, t0 + milliseconds(5000)));
}
