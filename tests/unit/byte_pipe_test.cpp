// SPDX-License-Identifier: Apache-2.0
// BytePipe between two real threads: every byte arrives in order, the bound
// holds the producer back, and either side closing stops the other.
#include "transfer/byte_pipe.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using haul::BytePipe;

TEST(BytePipe, EveryByteArrivesInOrderAcrossThreads) {
  BytePipe pipe(64 << 10);
  std::string sent;
  for (int i = 0; i < 200'000; ++i) sent += static_cast<char>('a' + i % 26);
  std::thread producer([&] {
    for (size_t pos = 0; pos < sent.size(); pos += 1000) pipe.push(sent.data() + pos, std::min<size_t>(1000, sent.size() - pos));
    // Zero-copy chunks too.
    auto chunk = pipe.buffer(5);
    chunk.append("tail!", 5);
    pipe.push(std::move(chunk));
    pipe.close_write();
  });
  std::string got;
  while (true) {
    const auto& c = pipe.pop();
    if (c.empty()) break;
    got.append(c.data(), c.size());
  }
  producer.join();
  EXPECT_EQ(got, sent + "tail!");
  EXPECT_FALSE(pipe.error());
}

TEST(BytePipe, AFullPipeHoldsTheProducerUntilTheConsumerReads) {
  BytePipe pipe(1 << 10);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    const std::string block(512, 'x');
    for (int i = 0; i < 8; ++i) {
      pipe.push(block.data(), block.size());
      ++pushed;
    }
    pipe.close_write();
  });
  // The bound is 1 KiB: two blocks fit. Once the producer got that far,
  // give it time to run ahead, if it could, and check that it did not.
  while (pushed.load() < 2) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a negative check needs a window
  EXPECT_LE(pushed.load(), 3);
  size_t total = 0;
  while (true) {
    const auto& c = pipe.pop();
    if (c.empty()) break;
    total += c.size();
  }
  producer.join();
  EXPECT_EQ(total, 8u * 512);
}

TEST(BytePipe, TheConsumerClosingReleasesABlockedProducer) {
  BytePipe pipe(1 << 10);
  std::atomic<bool> refused{false};
  std::thread producer([&] {
    const std::string block(512, 'x');
    for (int i = 0; i < 100; ++i)
      if (!pipe.push(block.data(), block.size())) {
        refused = true;
        return;
      }
  });
  pipe.pop();
  pipe.close_read();
  producer.join();
  EXPECT_TRUE(refused.load());
}

TEST(BytePipe, AnErrorFromTheProducerReachesTheConsumerAfterTheBytes) {
  BytePipe pipe;
  pipe.push("abc", 3);
  pipe.close_write(std::string("connection reset"));
  EXPECT_EQ(std::string(pipe.pop().data(), 3), "abc");
  EXPECT_TRUE(pipe.pop().empty());
  ASSERT_TRUE(pipe.error());
  EXPECT_EQ(*pipe.error(), "connection reset");
}
