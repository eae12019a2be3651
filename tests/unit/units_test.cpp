// SPDX-License-Identifier: Apache-2.0
#include "util/units.hpp"

#include <gtest/gtest.h>

using namespace haul;
using std::chrono::milliseconds;

TEST(Units, DurationsInGoSyntax) {
  EXPECT_EQ(parse_duration("10s"), milliseconds(10000));
  EXPECT_EQ(parse_duration("1m30s"), milliseconds(90000));
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
}

TEST(Units, BareNumbersAreSecondsAsStretchersIntFlags) {
  EXPECT_EQ(parse_duration("3"), milliseconds(3000));
  EXPECT_EQ(parse_duration("0.5"), milliseconds(500));
}

TEST(Units, BadDurationsAreRejected) {
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("10x"));
  EXPECT_FALSE(parse_duration("1m30"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("-5s"));
}

TEST(Units, BytesFollowGoHumanize) {
  EXPECT_EQ(parse_bytes("10M"), 10'000'000u);
  EXPECT_EQ(parse_bytes("10MB"), 10'000'000u);
  EXPECT_EQ(parse_bytes("1.5MiB"), 1'572'864u);
  EXPECT_EQ(parse_bytes("800k"), 800'000u);
  EXPECT_EQ(parse_bytes("800KiB"), 819'200u);
  EXPECT_EQ(parse_bytes("4096"), 4096u);
  EXPECT_FALSE(parse_bytes("ten"));
  EXPECT_FALSE(parse_bytes("10Q"));
}

TEST(Units, Formatting) {
  EXPECT_EQ(format_duration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_bytes(1500000), "1.5 MB");
}

#include "transfer/transfer_progress.hpp"

TEST(TransferProgress, DescribesBytesTotalRateAndTimeLeft) {
  EXPECT_EQ(haul::TransferProgress::describe(12'000'000, 48'000'000, 1.0), "12.0 MB of 48.0 MB (25%), 12.0 MB/s, 3s left");
  EXPECT_EQ(haul::TransferProgress::describe(5'000'000, 0, 2.0), "5.0 MB, 2.5 MB/s") << "no total: no percentage, no time left";
}
