// SPDX-License-Identifier: Apache-2.0
// The consul-watch trigger in-process, with its stdin replaced by a pipe.
// (Every format is also covered through the real binary in integration/.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "plugin_fixture.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

// Points fd 0 at a pipe holding `input` for the life of the object.
class StdinFrom {
 public:
  explicit StdinFrom(const std::string& input, bool close_writer = true) {
    saved_ = dup(0);
    int p[2];
    if (pipe(p) != 0) throw std::runtime_error("pipe");
    dup2(p[0], 0);
    close(p[0]);
    (void)!write(p[1], input.data(), input.size());
    if (close_writer) close(p[1]);
    else writer_ = p[1];
  }
  ~StdinFrom() {
    if (writer_ >= 0) close(writer_);
    dup2(saved_, 0);
    close(saved_);
  }

 private:
  int saved_ = -1, writer_ = -1;
};

}  // namespace

TEST(ConsulWatchTrigger, NewestConsulEventWins) {
  setenv("CONSUL_INDEX", "42", 1);
  // base64("s3://b/old.yml") and base64("s3://b/new.yml")
  StdinFrom in(R"([{"ID":"a","Name":"deploy","Payload":"czM6Ly9iL29sZC55bWw=","LTime":3},)"
               R"({"ID":"b","Name":"deploy","Payload":"czM6Ly9iL25ldy55bWw=","LTime":4}])");
  auto t = instantiate<TriggerInstance>("consul-watch");
  TriggerEvent ev;
  ASSERT_EQ(t->next(1000, ev), HAUL_OK);
  unsetenv("CONSUL_INDEX");
  EXPECT_EQ(ev.payload, "s3://b/new.yml");
  EXPECT_EQ(ev.id, "b");
  EXPECT_EQ(ev.ltime, 4u);
  EXPECT_EQ(t->next(1000, ev), HAUL_END);
}

TEST(ConsulWatchTrigger, EmptyEventListEnds) {
  setenv("CONSUL_INDEX", "1", 1);
  StdinFrom in("[]\n");
  auto t = instantiate<TriggerInstance>("consul-watch");
  TriggerEvent ev;
  EXPECT_EQ(t->next(1000, ev), HAUL_END);
  unsetenv("CONSUL_INDEX");
}

TEST(ConsulWatchTrigger, CancelWakesABlockedRead) {
  StdinFrom in("", false);  // writer stays open: a read would block forever
  auto t = instantiate<TriggerInstance>("consul-watch");
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    t->cancel();
  });
  TriggerEvent ev;
  EXPECT_EQ(t->next(60000, ev), HAUL_CANCELLED);
  canceller.join();
}

TEST(ConsulWatchTrigger, BrokenJsonIsAClearError) {
  setenv("CONSUL_INDEX", "7", 1);
  StdinFrom in("[{\"ID\":");
  auto t = instantiate<TriggerInstance>("consul-watch");
  TriggerEvent ev;
  try {
    t->next(1000, ev);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stdin: not the JSON event list Consul writes"), std::string::npos);
  }
  unsetenv("CONSUL_INDEX");
}
