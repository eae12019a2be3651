// The rules of a rollout (plugins/common/rollout_ledger), without a store:
// canary first and alone, the soak, the parallel limit, dead nodes' slots,
// halts by failures and by operators, and the ledger's JSON round trip.
#include <gtest/gtest.h>

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
