// SPDX-License-Identifier: Apache-2.0
// The flock with its holder's pid (util/pid_lock): a second taker is refused
// and told who holds it — never "(pid )", even for a holder in this very
// process (a second pipeline deploying to the same dest).
#include <gtest/gtest.h>
#include <unistd.h>

#include "test_support.hpp"
#include "util/pid_lock.hpp"

using namespace haul::test;

TEST(PidLock, ASecondTakerIsRefusedAndToldWhoHoldsIt) {
  TempDir tmp;
  haul::PidLock first(tmp / "dir/lock");
  ASSERT_TRUE(first.try_lock());
  EXPECT_EQ(read_file(tmp / "dir/lock"), std::to_string(getpid()) + "\n");
  haul::PidLock second(tmp / "dir/lock");
  EXPECT_FALSE(second.try_lock());
  EXPECT_EQ(second.holder(), "this haul process (pid " + std::to_string(getpid()) + ")");
  write_file(tmp / "dir/lock", "4242\n");  // as another process would have left it
  EXPECT_EQ(second.holder(), "pid 4242");
  write_file(tmp / "dir/lock", "");
  EXPECT_EQ(second.holder(), "a process that has not written its pid yet");
}

TEST(PidLock, ClosingFreesIt) {
  TempDir tmp;
  {
    haul::PidLock first(tmp / "lock");
    ASSERT_TRUE(first.try_lock());
  }
  haul::PidLock again(tmp / "lock");
  EXPECT_TRUE(again.try_lock());
}

TEST(PidLock, AFolderThatCannotHoldItIsNamed) {
  TempDir tmp;
  write_file(tmp / "file", "x");
  try {
    haul::PidLock lock(tmp / "file/lock");
    FAIL() << "opened";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open lock file " + (tmp / "file/lock").string() + ": Not a directory"),
              std::string::npos)
        << e.what();
  }
}
