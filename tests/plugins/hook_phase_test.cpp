// SPDX-License-Identifier: Apache-2.0
// run_hook_phase with the real shell hook, in-process: the commands see the
// deploy in HAUL_* variables, their process groups are reported while they
// run, a failure names the phase and the hook, and a stop ends a command.
#include "deploy/hook_phase.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "plugin_fixture.hpp"

using namespace haul;
using namespace haul::test;

namespace {

struct HookPhase : ::testing::Test {
  TempDir tmp;
  std::unique_ptr<HookInstance> shell = instantiate<HookInstance>("shell");
  std::vector<HookInstance*> hooks{shell.get()};
  DeployLog log{"web"};
  StopSignal stop;

  PhaseInfo info(haul_phase phase, std::vector<std::string> commands) {
    PhaseInfo i;
    i.phase = phase;
    i.commands = std::move(commands);
    i.pipeline = "web";
    i.event_id = "ev-1";
    i.manifest_url = "file:///m.yml";
    i.dest = "/srv/app";
    i.release = "v2";
    i.release_dir = "/srv/app/releases/v2";
    i.previous_release_dir = "/srv/app/releases/v1";
    return i;
  }
};

}  // namespace

TEST_F(HookPhase, CommandsSeeTheDeployInTheirEnvironment) {
  const fs::path out = tmp / "env";
  run_hook_phase(hooks,
                 info(HAUL_PHASE_POST, {"echo $HAUL_PHASE $HAUL_PIPELINE $HAUL_EVENT_ID $HAUL_RELEASE $HAUL_RELEASE_DIR "
                                        "$HAUL_PREVIOUS_RELEASE_DIR $HAUL_MANIFEST_URL $HAUL_DEST > " +
                                        out.string()}),
                 log, stop);
  EXPECT_EQ(read_file(out),
            "post web ev-1 v2 /srv/app/releases/v2 /srv/app/releases/v1 file:///m.yml /srv/app\n");
}

TEST_F(HookPhase, ProcessGroupsAreReportedWhileCommandsRun) {
  std::vector<std::pair<int64_t, bool>> seen;
  PhaseInfo i = info(HAUL_PHASE_PRE, {"true", "true"});
  i.on_process = [&](int64_t pgid, bool running) { seen.emplace_back(pgid, running); };
  run_hook_phase(hooks, i, log, stop);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_TRUE(seen[0].second);
  EXPECT_FALSE(seen[1].second);
  EXPECT_EQ(seen[0].first, seen[1].first);
  EXPECT_GT(seen[0].first, 1);
  EXPECT_NE(seen[0].first, seen[2].first);  // each command its own group
}

TEST_F(HookPhase, AFailureNamesThePhaseAndTheHook) {
  try {
    run_hook_phase(hooks, info(HAUL_PHASE_VERIFY, {"exit 7"}), log, stop);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "verify hook shell: command `exit 7` failed: exit status 7");
  }
}

TEST_F(HookPhase, OnlySuccessAndFailureReadTheDeployLog) {
  log.info("fetched it");
  const fs::path out = tmp / "log";
  run_hook_phase(hooks, info(HAUL_PHASE_PRE, {"cat > " + out.string()}), log, stop);
  EXPECT_EQ(read_file(out), "");
  run_hook_phase(hooks, info(HAUL_PHASE_SUCCESS, {"cat > " + out.string()}), log, stop);
  EXPECT_NE(read_file(out).find("fetched it"), std::string::npos) << read_file(out);
}

TEST_F(HookPhase, AStopEndsARunningCommand) {
  // Raised once the command runs: its process group is reported when it starts.
  PhaseInfo i = info(HAUL_PHASE_PRE, {"sleep 30"});
  std::atomic<bool> started{false};
  i.on_process = [&](int64_t, bool running) {
    if (running) started = true;
  };
  std::thread stopper([&] {
    while (!started) std::this_thread::yield();
    stop.raise();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(run_hook_phase(hooks, i, log, stop), Error);
  stopper.join();
  EXPECT_TRUE(started.load());
  // Ended by the stop, not by sleep running out.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}
