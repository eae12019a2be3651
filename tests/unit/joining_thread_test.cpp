// SPDX-License-Identifier: Apache-2.0
// JoiningThread (util/joining_thread.hpp): the thread a deploy or the agent
// starts is joined on every path — an explicit join() where the code waits
// for a result, the destructor on an exception — and a thread that waits on
// its owner is unblocked before that destructor's join, never deadlocked.
#include "util/joining_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "transfer/byte_pipe.hpp"

using namespace haul;

namespace {

void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

TEST(JoiningThread, TheDestructorJoinsAThreadNobodyJoined) {
  std::atomic<bool> done{false};
  {
    JoiningThread t([&] {
      pause_ms(20);
      done = true;
    });
    EXPECT_TRUE(t.joinable());
  }
  EXPECT_TRUE(done);
}

TEST(JoiningThread, JoinIsIdempotentAndANeverStartedThreadIsNotJoinable) {
  JoiningThread none;
  EXPECT_FALSE(none.joinable());
  none.join();  // nothing to wait for

  int runs = 0;
  JoiningThread t([&] { ++runs; });
  t.join();
  EXPECT_FALSE(t.joinable());
  t.join();
  EXPECT_EQ(runs, 1);
}

TEST(JoiningThread, MovingHandsTheThreadOverAndAssigningOverOneFinishesItFirst) {
  std::atomic<int> finished{0};
  JoiningThread a([&] {
    pause_ms(20);
    ++finished;
  });
  JoiningThread b(std::move(a));
  EXPECT_FALSE(a.joinable());
  EXPECT_TRUE(b.joinable());

  b = JoiningThread([&] { ++finished; });  // the first thread is joined before b takes the second
  EXPECT_GE(finished.load(), 1);
  b.join();
  EXPECT_EQ(finished.load(), 2);

  std::vector<JoiningThread> many;  // a vector grows by moving them
  for (int i = 0; i < 8; ++i) many.emplace_back([&] { ++finished; });
  for (auto& t : many) t.join();
  EXPECT_EQ(finished.load(), 10);
}

// The deploy's shape: a producer blocked on a full pipe that only its owner
// drains or closes. An exception before the owner's join would deadlock a
// plain destructor join; unblock_with closes the pipe first.
TEST(JoiningThread, AnEarlyExitUnblocksTheThreadBeforeJoiningIt) {
  BytePipe pipe(1 << 10);
  std::atomic<bool> producer_saw_the_close{false};
  bool unblocked = false;
  try {
    JoiningThread producer([&] {
      const std::string block(512, 'x');
      while (pipe.push(block.data(), block.size())) {
      }
      producer_saw_the_close = true;
    });
    producer.unblock_with([&] {
      unblocked = true;
      pipe.close_read();
    });
    pause_ms(20);  // let it fill the pipe and block
    throw std::runtime_error("extraction failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(unblocked);
  EXPECT_TRUE(producer_saw_the_close);
}

TEST(JoiningThread, AnExplicitJoinSkipsTheUnblock) {
  bool unblocked = false;
  {
    JoiningThread t([] {});
    t.unblock_with([&] { unblocked = true; });
    t.join();
  }
  EXPECT_FALSE(unblocked);
}
