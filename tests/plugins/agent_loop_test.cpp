// SPDX-License-Identifier: Apache-2.0
// The agent's loops in-process, through a trigger the test feeds (a plugin
// compiled into this test, behind the same C ABI as a loaded one) and the
// real file source and shell hook: events are deployed once — also after a
// restart — and events that arrive while a deploy runs coalesce to the
// newest. Each step waits on something the agent did (a file, the trigger
// asking again), never on time.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "agent/agent.hpp"
#include "plugin_fixture.hpp"
#include "release/applied_events.hpp"

using namespace haul;
using namespace haul::test;

namespace {

// The events a test queues, as the fake trigger hands them out.
struct EventQueue {
  struct Event {
    std::string id, payload;
    uint64_t ltime;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;
  Event current;     // what the last next_event pointed at
  bool closed = false;   // then next_event ends once the queue is drained
  uint64_t asked = 0;    // next_event calls so far

  void push(std::string id, uint64_t ltime, std::string payload) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back({std::move(id), std::move(payload), ltime});
    cv.notify_all();
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu);
    closed = true;
    cv.notify_all();
  }
  // Until the trigger's caller has taken every queued event and come back
  // for more: by then the agent has been offered each one.
  void wait_until_taken() {
    std::unique_lock<std::mutex> lock(mu);
    const uint64_t after = asked + events.size();
    cv.wait(lock, [&] { return events.empty() && asked > after; });
  }
};

namespace fake {

void* create(const haul_kv* cfg, size_t n, const haul_host*, char* err, size_t len) {
  for (size_t i = 0; i < n; ++i)
    if (std::string(cfg[i].key) == "queue")
      return reinterpret_cast<EventQueue*>(std::strtoull(cfg[i].value, nullptr, 16));
  snprintf(err, len, "no queue");
  return nullptr;
}
void destroy(void*) {}
const char* last_error(void*) { return ""; }
haul_rc next_event(void* self, uint32_t timeout_ms, haul_event* out) {
  auto* q = static_cast<EventQueue*>(self);
  std::unique_lock<std::mutex> lock(q->mu);
  ++q->asked;
  q->cv.notify_all();
  if (!q->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !q->events.empty() || q->closed; }))
    return HAUL_TIMEOUT;
  if (q->events.empty()) return HAUL_END;
  q->current = std::move(q->events.front());
  q->events.pop_front();
  q->cv.notify_all();
  out->id = q->current.id.c_str();
  out->ltime = q->current.ltime;
  out->name = "deploy";
  out->payload = q->current.payload.data();
  out->payload_len = q->current.payload.size();
  return HAUL_OK;
}
void cancel(void* self) { static_cast<EventQueue*>(self)->close(); }

}  // namespace fake

std::shared_ptr<LoadedPlugin> fake_trigger_plugin() {
  static const haul_plugin_info info = [] {
    haul_plugin_info i{};
    i.struct_size = sizeof i;
    i.abi_major = HAUL_ABI_MAJOR;
    i.abi_minor = HAUL_ABI_MINOR;
    i.kind = HAUL_KIND_TRIGGER;
    i.name = "fake";
    i.version = "0";
    i.description = "events the test queues";
    i.create = &fake::create;
    i.destroy = &fake::destroy;
    i.last_error = &fake::last_error;
    i.next_event = &fake::next_event;
    i.cancel = &fake::cancel;
    return i;
  }();
  auto p = std::make_shared<LoadedPlugin>();
  p->info = &info;
  return p;
}

struct AgentLoop : ::testing::Test {
  TempDir tmp;
  fs::path dest = tmp / "www/app", state = tmp / "state", deployed = tmp / "deployed.log";

  // Release `name`: one file, and a post command that appends its name to
  // deployed.log; pre runs first. Returns the manifest's URL.
  std::string release(const std::string& name, const std::string& pre = "true") {
    const std::string tar = make_tar({file_entry("index.html", name)});
    write_file(tmp / (name + ".tgz"), tar);
    write_file(tmp / (name + ".yml"), "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                          "\ndest: " + dest.string() + "\ncommands:\n  pre: ['" + pre +
                                          "']\n  post: ['echo " + name + " >> " + deployed.string() + "']\n");
    return file_url(tmp / (name + ".yml"));
  }

  std::unique_ptr<Pipeline> pipeline(EventQueue& q) {
    auto p = std::make_unique<Pipeline>();
    p->name = "web";
    char address[32];
    snprintf(address, sizeof address, "%llx", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(&q)));
    p->trigger = std::make_unique<TriggerInstance>(fake_trigger_plugin(), PluginSettings{{"queue", address}}, "web/fake");
    p->sources = all_sources();
    p->hooks.push_back(instantiate<HookInstance>("shell"));
    p->applied = std::make_unique<AppliedEvents>(state, "web");
    return p;
  }

  // Runs the agent until the queue is closed and drained.
  struct Running {
    std::vector<std::unique_ptr<Pipeline>> pipelines;
    StopSignal stop, abort;
    AgentSummary summary;
    std::thread thread;
    ~Running() {  // a test that failed half-way stops the agent
      if (!thread.joinable()) return;
      abort.raise();
      stop.raise();
      thread.join();
    }
  };
  void start(Running& r, EventQueue& q) {
    fs::create_directories(state);
    r.pipelines.push_back(pipeline(q));
    r.thread = std::thread([&r] { r.summary = run_agent(r.pipelines, r.stop, r.abort); });
  }
};

}  // namespace

TEST_F(AgentLoop, AnEventIsDeployedOnceEvenAfterARestart) {
  const std::string v1 = release("v1"), v2 = release("v2");
  {
    EventQueue q;
    Running agent;
    start(agent, q);
    q.push("a", 1, v1);
    ASSERT_TRUE(wait_until([&] {
      return fs::exists(state / "web.json") && read_file(state / "web.json").find("\"a\"") != std::string::npos;
    })) << "event a was not recorded as applied";
    q.push("a", 1, v1);  // Consul replays an event a watch saw already
    q.push("b", 2, v2);
    q.close();
    agent.thread.join();
    EXPECT_EQ(agent.summary.deploys, 2);
    EXPECT_EQ(agent.summary.failures, 0);
  }
  EXPECT_EQ(read_file(deployed), "v1\nv2\n");
  {
    EventQueue q;  // the agent restarted: its state says what it applied
    Running agent;
    start(agent, q);
    q.push("b", 2, v2);
    q.close();
    agent.thread.join();
    EXPECT_EQ(agent.summary.deploys, 0);
  }
  EXPECT_EQ(read_file(deployed), "v1\nv2\n");
  EXPECT_EQ(read_file(dest / "index.html"), "v2");
}

TEST_F(AgentLoop, EventsArrivingDuringADeployCoalesceToTheNewest) {
  // v1's pre waits for the test: v2 and v3 arrive while v1 deploys.
  const fs::path in_pre = tmp / "in-pre", go = tmp / "go";
  const std::string v1 = release("v1", "touch " + in_pre.string() + "; while [ ! -e " + go.string() +
                                           " ]; do sleep 0.01; done");
  const std::string v2 = release("v2"), v3 = release("v3");
  EventQueue q;
  Running agent;
  start(agent, q);
  q.push("a", 1, v1);
  ASSERT_TRUE(wait_until([&] { return fs::exists(in_pre); })) << "v1's pre command did not start";
  q.push("b", 2, v2);
  q.push("c", 3, v3);
  q.wait_until_taken();
  write_file(go, "");
  q.close();
  agent.thread.join();
  EXPECT_EQ(read_file(deployed), "v1\nv3\n");  // v2 was superseded before it started
  EXPECT_EQ(agent.summary.deploys, 2);
  EXPECT_EQ(read_file(dest / "index.html"), "v3");
}
