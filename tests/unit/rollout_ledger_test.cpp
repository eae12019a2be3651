// SPDX-License-Identifier: Apache-2.0
// The rules of a rollout (plugins/common/rollout_ledger), without a store:
// canary first and alone, the soak, the parallel limit, dead nodes' slots,
// halts by failures and by operators, and the ledger's JSON round trip.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <random>

#include "rollout_ledger.hpp"

using namespace haul::rollout;

namespace {

haul_rollout_policy policy(uint32_t canary, uint64_t soak_ms, uint32_t parallel, uint32_t percent = 0,
                           uint32_t failures = 1) {
  haul_rollout_policy p{};
  p.struct_size = sizeof p;
  p.canary = canary;
  p.canary_soak_ms = soak_ms;
  p.max_parallel = parallel;
  p.max_parallel_percent = percent;
  p.max_failures = failures;
  return p;
}

std::set<std::string> nodes(int n) {
  std::set<std::string> out;
  for (int i = 1; i <= n; ++i) out.insert("n" + std::to_string(i));
  return out;
}

}  // namespace

TEST(RolloutLedger, TheCanaryDeploysAloneThenTheSoakThenBatches) {
  Ledger l = start("r1", policy(1, 60000, 2), 1000);
  const auto live = nodes(5);
  EXPECT_EQ(admit(l, "n1", 1000, live).kind, Decision::proceed);
  EXPECT_TRUE(l.nodes["n1"].canary);
  const Decision waiting = admit(l, "n2", 1001, live);
  EXPECT_EQ(waiting.kind, Decision::wait);
  EXPECT_NE(waiting.why.find("canary stage"), std::string::npos) << waiting.why;
  EXPECT_EQ(progress(l, 1001), "canary");

  finish(l, "n1", true, "", 2000);
  const Decision soaking = admit(l, "n2", 2001, live);
  EXPECT_EQ(soaking.kind, Decision::wait);
  EXPECT_EQ(soaking.recheck_in.count(), 59999);
  EXPECT_EQ(progress(l, 2001), "soaking");

  EXPECT_EQ(admit(l, "n2", 62000, live).kind, Decision::proceed);
  EXPECT_EQ(admit(l, "n3", 62000, live).kind, Decision::proceed);
  EXPECT_EQ(admit(l, "n4", 62000, live).kind, Decision::wait) << "2 deploying = max_parallel";
  EXPECT_FALSE(l.nodes["n2"].canary);
  finish(l, "n2", true, "", 63000);
  EXPECT_EQ(admit(l, "n4", 63000, live).kind, Decision::proceed);
  EXPECT_EQ(progress(l, 63000), "rolling");
}

TEST(RolloutLedger, AnAdmittedNodeAskingAgainKeepsItsSlot) {
  Ledger l = start("r1", policy(0, 0, 1), 0);
  EXPECT_EQ(admit(l, "n1", 1, nodes(2)).kind, Decision::proceed);
  const Decision again = admit(l, "n1", 2, nodes(2));
  EXPECT_EQ(again.kind, Decision::proceed);
  EXPECT_FALSE(again.changed);
}

TEST(RolloutLedger, ADeadNodesSlotIsFreedAndItsCanaryPlaceTaken) {
  Ledger l = start("r1", policy(1, 0, 1), 0);
  EXPECT_EQ(admit(l, "n1", 1, nodes(3)).kind, Decision::proceed);
  EXPECT_EQ(admit(l, "n2", 2, nodes(3)).kind, Decision::wait);
  // n1's session lapsed: it is no longer live.
  const Decision d = admit(l, "n2", 3, {"n2", "n3"});
  EXPECT_EQ(d.kind, Decision::proceed);
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(l.nodes.count("n1"), 0u);
  EXPECT_TRUE(l.nodes["n2"].canary) << "the canary place went to the next node";
}

TEST(RolloutLedger, FinishedNodesAreNotDroppedWhenTheirSessionEnds) {
  Ledger l = start("r1", policy(0, 0, 1), 0);
  admit(l, "n1", 1, nodes(2));
  finish(l, "n1", true, "", 2);
  admit(l, "n2", 3, {"n2"});
  EXPECT_EQ(l.nodes.at("n1").state, NodeState::done);
}

TEST(RolloutLedger, EnoughFailuresHaltTheReleaseForEveryone) {
  Ledger l = start("r1", policy(0, 0, 3, 0, 2), 0);
  for (const char* n : {"n1", "n2", "n3"}) EXPECT_EQ(admit(l, n, 1, nodes(6)).kind, Decision::proceed);
  finish(l, "n1", false, "post failed", 2);
  EXPECT_FALSE(l.halted) << "1 failure of max_failures 2";
  finish(l, "n2", false, "verify failed", 3);
  ASSERT_TRUE(l.halted);
  EXPECT_EQ(l.halted->by, "n2");
  EXPECT_NE(l.halted->reason.find("n1: post failed"), std::string::npos) << l.halted->reason;
  EXPECT_NE(l.halted->reason.find("n2: verify failed"), std::string::npos) << l.halted->reason;
  EXPECT_EQ(admit(l, "n4", 4, nodes(6)).kind, Decision::halted);
  EXPECT_EQ(progress(l, 4), "halted");
  EXPECT_FALSE(complete(l, 4));
}

TEST(RolloutLedger, ResumeForgivesTheFailuresBeforeIt) {
  Ledger l = start("r1", policy(0, 0, 5), 0);
  admit(l, "n1", 1, nodes(3));
  finish(l, "n1", false, "boom", 2);
  ASSERT_TRUE(l.halted);
  resume(l, 10);
  EXPECT_EQ(admit(l, "n2", 11, nodes(3)).kind, Decision::proceed);
  finish(l, "n2", true, "", 12);
  EXPECT_FALSE(l.halted) << "n1's failure was before the resume";
  admit(l, "n3", 13, nodes(3));
  finish(l, "n3", false, "again", 14);
  EXPECT_TRUE(l.halted);
}

TEST(RolloutLedger, AnOperatorHaltStopsWaitingNodes) {
  Ledger l = start("r1", policy(1, 0, 1), 0);
  admit(l, "n1", 1, nodes(2));
  EXPECT_EQ(admit(l, "n2", 2, nodes(2)).kind, Decision::wait);
  halt(l, "bad metrics", "operator", 3);
  const Decision d = admit(l, "n2", 4, nodes(2));
  EXPECT_EQ(d.kind, Decision::halted);
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(l.nodes["n2"].state, NodeState::held) << "held back, for status";
  EXPECT_EQ(l.nodes["n1"].state, NodeState::deploying) << "the canary finishes what it started";
  EXPECT_EQ(admit(l, "n3", 5, nodes(3)).kind, Decision::halted);
  EXPECT_EQ(l.nodes["n3"].state, NodeState::held) << "a node arriving after the halt is held back too";
}

TEST(RolloutLedger, APercentageCountsTheNodesInTheRolloutAndIsAtLeastOne) {
  Ledger l = start("r1", policy(0, 0, 0, 25), 0);
  const auto live = nodes(8);
  for (const auto& n : live) admit(l, n, 1, live);
  // The first node to ask saw only itself: 25% of 1 is still 1 slot.
  EXPECT_EQ(slot_limit(l), 2u) << "25% of 8";
  size_t deploying = 0;
  for (const auto& [name, e] : l.nodes) deploying += e.state == NodeState::deploying;
  EXPECT_LE(deploying, 2u);
  EXPECT_GE(deploying, 1u);
}

TEST(RolloutLedger, CompleteOnlyWhenNobodyWaitsAndTheSoakIsOver) {
  Ledger l = start("r1", policy(1, 1000, 2), 0);
  EXPECT_TRUE(complete(l, 0)) << "nobody took part yet";
  admit(l, "n1", 0, nodes(2));
  EXPECT_FALSE(complete(l, 1));
  finish(l, "n1", true, "", 100);
  EXPECT_FALSE(complete(l, 500)) << "soaking";
  EXPECT_TRUE(complete(l, 1100));
  admit(l, "n2", 1200, nodes(2));
  EXPECT_FALSE(complete(l, 1200));
  finish(l, "n2", true, "", 1300);
  EXPECT_TRUE(complete(l, 1300));
  EXPECT_EQ(progress(l, 1300), "done");
}

TEST(RolloutLedger, JsonRoundTripKeepsEverything) {
  haul_rollout_policy p = policy(2, 120000, 0, 25, 3);
  p.rollback_on_halt = 1;
  Ledger l = start("2026-11-30 web", p, 5);
  admit(l, "n1", 6, nodes(2));
  finish(l, "n1", false, "post: exit 1", 7);
  halt(l, "by hand", "operator", 8);
  const Ledger back = Ledger::parse(l.dump(), "test");
  EXPECT_EQ(back.dump(), l.dump());
  EXPECT_EQ(back.policy.rollback_on_halt, 1);
  EXPECT_EQ(back.policy.max_parallel_percent, 25u);
  EXPECT_EQ(back.nodes.at("n1").error, "post: exit 1");
  EXPECT_EQ(back.halted->by, "operator");
}

TEST(RolloutLedger, ADamagedLedgerIsNamedInTheError) {
  try {
    Ledger::parse("{\"release\": 3}", "Consul KV haul/rollout/web/r1/ledger");
    FAIL() << "parsed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("haul/rollout/web/r1/ledger: not a rollout ledger"), std::string::npos)
        << e.what();
  }
  try {
    Ledger::parse(R"({"release":"r","policy":{"canary":0,"canary_soak_ms":0,"max_parallel":1,"max_parallel_percent":0,
                     "max_failures":1,"on_halt":"stay"},"nodes":{"n1":{"state":"sleeping"}}})",
                  "L");
    FAIL() << "parsed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("node n1: node state 'sleeping'"), std::string::npos) << e.what();
  }
}

TEST(RolloutLedger, KeySegmentsAreSafe) {
  EXPECT_EQ(key_segment("web/prod v1"), "web_prod_v1");
  EXPECT_EQ(key_segment(".."), "_..");
  EXPECT_EQ(key_segment(""), "_");
  EXPECT_EQ(key_segment("2026.11-30_a"), "2026.11-30_a");
}

// ---- halts, resumes and re-fired events, in every order (#33) ----

namespace {

size_t deploying_now(const Ledger& l) {
  size_t n = 0;
  for (const auto& [name, e] : l.nodes) n += e.state == NodeState::deploying;
  return n;
}

// 3 nodes, canary 1, a 4 s soak, one at a time: the canary n1 finishes at
// 2 s, so its soak would end at 6 s; an operator halts at 3 s and n2, n3
// are held back.
Ledger halted_during_the_soak() {
  Ledger l = start("r1", policy(1, 4000, 1), 0);
  const auto live = nodes(3);
  EXPECT_EQ(admit(l, "n1", 1000, live).kind, Decision::proceed);
  finish(l, "n1", true, "", 2000);
  EXPECT_EQ(admit(l, "n2", 2500, live).kind, Decision::wait);
  halt(l, "p99 up", "operator", 3000);
  EXPECT_EQ(admit(l, "n2", 3001, live).kind, Decision::halted);
  EXPECT_EQ(admit(l, "n3", 3002, live).kind, Decision::halted);
  return l;
}

}  // namespace

TEST(RolloutLedger, AResumeAfterTheSoakWindowStartsTheSoakAgain) {
  Ledger l = halted_during_the_soak();
  resume(l, 10000);  // long after the soak would have ended
  EXPECT_EQ(progress(l, 10000), "soaking");
  EXPECT_EQ(soak_left_ms(l, 10000), 4000u);
  const Decision d = admit(l, "n2", 10001, nodes(3));
  EXPECT_EQ(d.kind, Decision::wait) << "the soak ran through the halt";
  EXPECT_EQ(d.recheck_in.count(), 3999);
  EXPECT_EQ(admit(l, "n2", 14000, nodes(3)).kind, Decision::proceed);
}

TEST(RolloutLedger, TheOldCanaryFiredAgainNeitherReopensTheCanaryStageNorTakesASecondSlot) {
  Ledger l = halted_during_the_soak();
  resume(l, 10000);
  const auto live = nodes(3);
  ASSERT_EQ(admit(l, "n2", 14000, live).kind, Decision::proceed);
  const Decision again = admit(l, "n1", 14010, live);  // the event is fired again
  EXPECT_EQ(again.kind, Decision::wait) << "max_parallel 1 and n2 deploys";
  EXPECT_EQ(deploying_now(l), 1u);
  EXPECT_TRUE(l.nodes["n1"].canary) << "it was this release's canary";
  finish(l, "n2", true, "", 15000);
  const Decision next = admit(l, "n1", 15001, live);
  EXPECT_EQ(next.kind, Decision::proceed);
  EXPECT_FALSE(next.canary) << "the canary stage is over: a plain slot";
}

TEST(RolloutLedger, AResumeBeforeTheSoakEndedStillWatchesAWholeSoak) {
  Ledger l = halted_during_the_soak();
  resume(l, 4000);
  EXPECT_EQ(admit(l, "n2", 6500, nodes(3)).kind, Decision::wait) << "the old soak's end is not enough";
  EXPECT_EQ(admit(l, "n2", 8000, nodes(3)).kind, Decision::proceed);
}

TEST(RolloutLedger, AResumeAfterAFailedCanaryPicksANewCanary) {
  Ledger l = start("r1", policy(1, 1000, 2), 0);
  const auto live = nodes(3);
  ASSERT_EQ(admit(l, "n1", 1, live).kind, Decision::proceed);
  finish(l, "n1", false, "post: exit 1", 2);
  ASSERT_TRUE(l.halted);
  EXPECT_EQ(admit(l, "n2", 3, live).kind, Decision::halted);
  resume(l, 10);
  EXPECT_EQ(progress(l, 10), "held") << "nobody deploys and n2 has not got it";
  const Decision d = admit(l, "n2", 11, live);
  ASSERT_EQ(d.kind, Decision::proceed);
  EXPECT_TRUE(d.canary) << "the failed canary was forgiven: its place is n2's";
  EXPECT_EQ(admit(l, "n3", 12, live).kind, Decision::wait) << "a canary deploys alone";
  finish(l, "n2", true, "", 20);
  EXPECT_EQ(admit(l, "n3", 500, live).kind, Decision::wait) << "soaking";
  EXPECT_EQ(admit(l, "n3", 1020, live).kind, Decision::proceed);
}

TEST(RolloutLedger, DoneNeverShowsWhileNodesAreHeldBack) {
  Ledger l = halted_during_the_soak();
  resume(l, 10000);
  EXPECT_EQ(progress(l, 20000), "held");
  ASSERT_EQ(admit(l, "n2", 20000, nodes(3)).kind, Decision::proceed);
  finish(l, "n2", true, "", 20001);
  EXPECT_EQ(progress(l, 20002), "held") << "n3 is still held back";
  ASSERT_EQ(admit(l, "n3", 20003, nodes(3)).kind, Decision::proceed);
  finish(l, "n3", true, "", 20004);
  EXPECT_EQ(progress(l, 20005), "done");
}

TEST(RolloutLedger, ALedgerFromBeforeTheLatchKeepsItsSoak) {
  Ledger l = start("r1", policy(1, 4000, 1), 0);
  admit(l, "n1", 1000, nodes(2));
  finish(l, "n1", true, "", 2000);
  auto j = nlohmann::json::parse(l.dump());
  j.erase("soak_from_ms");  // as an older haul wrote it
  const Ledger old = Ledger::parse(j.dump(), "old");
  EXPECT_EQ(old.soak_from_ms, 2000u);
  EXPECT_EQ(soak_left_ms(old, 3000), 3000u);
}

// The canary stage as the README states it, kept apart from the ledger's
// code: the canaries that took a slot, which of them still deploy or
// failed, and when the soak started.
struct StageModel {
  uint32_t canary;
  uint64_t soak;
  std::set<std::string> canaries, running, failed;
  std::optional<uint64_t> soak_start;  // set: the canary stage is over

  void granted(const std::string& n) {
    canaries.insert(n);
    running.insert(n);
    failed.erase(n);
  }
  void finished(const std::string& n, bool ok, uint64_t now) {
    running.erase(n);
    if (!ok) failed.insert(n);
    if (!soak_start && canaries.size() >= canary && running.empty()) soak_start = now;
  }
  void dropped(const std::string& n) {  // died while deploying or waiting: its place is free
    canaries.erase(n);
    running.erase(n);
  }
  // A resume whose halt came before the soak's end forgives failed
  // canaries and starts the soak again.
  void resumed(uint64_t halted_at, uint64_t now) {
    if (soak_start && halted_at >= *soak_start + soak) return;
    for (const auto& n : failed) canaries.erase(n);
    failed.clear();
    soak_start.reset();
    if (canaries.size() >= canary && running.empty()) soak_start = now;
  }
};

// A seeded walk through 400 × 60 steps of enter, finish (well or badly),
// halt, resume, a node's death and return, in random order and timing,
// checked after every step against the model:
//  - a canary slot only in the canary stage, at most `canary` deploying;
//  - a plain slot only after the canary stage and a whole soak, and never
//    more than max_parallel deploying;
//  - "done" never shows while a node deploys, waits or is held back.
TEST(RolloutLedger, EveryOrderOfHaltResumeAndRefireKeepsTheRules) {
  for (uint32_t seed = 1; seed <= 400; ++seed) {
    std::mt19937 rng(seed);
    StageModel m;
    m.canary = 1 + rng() % 2;
    m.soak = 4000;
    const uint32_t parallel = 1 + rng() % 2, failures = 1 + rng() % 2;
    Ledger l = start("r1", policy(m.canary, m.soak, parallel, 0, failures), 0);
    std::set<std::string> live = nodes(5);
    uint64_t now = 0;
    std::string trace;
    auto where = [&] {
      return "seed " + std::to_string(seed) + " (canary " + std::to_string(m.canary) + ", max_parallel " +
             std::to_string(parallel) + ", max_failures " + std::to_string(failures) + "): " + trace + "\nledger " + l.dump();
    };
    for (int step = 0; step < 60; ++step) {
      now += rng() % 1500;
      const std::string n = "n" + std::to_string(1 + rng() % 5);
      const unsigned op = rng() % 10;
      trace += std::to_string(now) + ":" + std::to_string(op) + n + " ";
      if (op <= 4) {
        if (!live.count(n)) continue;
        const bool was_deploying = l.nodes.count(n) && l.nodes[n].state == NodeState::deploying;
        const Decision d = admit(l, n, now, live);
        for (const auto& c : std::set<std::string>(m.canaries))
          if (!l.nodes.count(c)) m.dropped(c);
        if (d.kind == Decision::proceed && !was_deploying) {
          if (d.canary) {
            ASSERT_FALSE(m.soak_start) << "a canary slot after the canary stage; " << where();
            ASSERT_TRUE(m.canaries.count(n) || m.canaries.size() < m.canary) << where();
            m.granted(n);
            ASSERT_LE(m.running.size(), m.canary) << where();
            ASSERT_EQ(deploying_now(l), m.running.size()) << "only canaries deploy; " << where();
          } else {
            ASSERT_TRUE(m.soak_start) << "a plain slot in the canary stage; " << where();
            ASSERT_GE(now, *m.soak_start + m.soak) << "a plain slot during the soak; " << where();
            ASSERT_LE(deploying_now(l), parallel) << "max_parallel exceeded; " << where();
          }
        }
      } else if (op <= 6) {
        if (!l.nodes.count(n) || l.nodes[n].state != NodeState::deploying) continue;
        const bool ok = rng() % 5 != 0;
        finish(l, n, ok, "boom", now);
        if (m.running.count(n)) m.finished(n, ok, now);
      } else if (op == 7) {
        if (!l.halted) halt(l, "by hand", "operator", now);
      } else if (op == 8) {
        if (!l.halted) continue;
        const uint64_t halted_at = l.halted->at_ms;
        resume(l, now);
        m.resumed(halted_at, now);
      } else if (live.count(n)) {
        live.erase(n);  // dies; its slot frees once another node looks
      } else {
        live.insert(n);  // back
      }
      bool pending = false;
      for (const auto& [name, e] : l.nodes)
        pending = pending || (e.state != NodeState::done && e.state != NodeState::failed);
      if (pending) ASSERT_NE(progress(l, now), "done") << where();
    }
  }
}
