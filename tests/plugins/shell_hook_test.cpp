// The shell hook's vtable called in-process, as the engine calls it.
#include <gtest/gtest.h>
#include <signal.h>

#include "plugin_fixture.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

bool logged(const Phase& p, const std::string& line) {
  return std::find(p.lines.begin(), p.lines.end(), line) != p.lines.end();
}

}  // namespace

TEST(ShellHook, RunsCommandsInOrderAndLogsTheirOutput) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.commands = {"echo one", "echo two >&2; echo three"};
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_TRUE(logged(p, "one"));
  EXPECT_TRUE(logged(p, "two"));
  EXPECT_TRUE(logged(p, "three"));
  EXPECT_TRUE(logged(p, "Invoking pre command: echo one"));
}

TEST(ShellHook, AFailingCommandStopsThePhaseWithItsStatus) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.commands = {"exit 3", "echo never"};
  EXPECT_EQ(run(*hook, p), "command `exit 3` failed: exit status 3");
  EXPECT_FALSE(logged(p, "never"));
  p.commands = {"kill -TERM $$"};
  EXPECT_NE(run(*hook, p).find("killed by signal 15"), std::string::npos);
}

TEST(ShellHook, SuccessAndFailureCommandsReadTheDeployLog) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.phase = HAUL_PHASE_FAILURE;
  p.log_in = "line 1\nline 2\n";
  p.commands = {"wc -l | tr -d ' '"};
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_TRUE(logged(p, "2"));
}

TEST(ShellHook, ACommandThatIgnoresAHugeLogDoesNotBreak) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.phase = HAUL_PHASE_SUCCESS;
  p.log_in = std::string(1 << 20, 'x');  // far beyond a pipe's buffer
  p.commands = {"echo ignored"};
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_TRUE(logged(p, "ignored"));
}

TEST(ShellHook, DeployEnvironmentReachesTheCommand) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.env = {{"HAUL_PHASE", "post"}, {"HOME", "/overridden"}};
  p.commands = {"echo $HAUL_PHASE $HOME"};
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_TRUE(logged(p, "post /overridden"));
}

TEST(ShellHook, ABackgroundChildHoldingStdoutDoesNotHangThePhase) {
  auto hook = instantiate<HookInstance>("shell", "{output_grace: 100ms}");
  Phase p;
  p.commands = {"sleep 300 & echo child=$!"};
  EXPECT_EQ(run(*hook, p), "");
  // The phase returned while the child still holds the output pipe open.
  pid_t child = 0;
  for (const auto& line : p.lines)
    if (line.rfind("child=", 0) == 0) child = static_cast<pid_t>(std::stoi(line.substr(6)));
  ASSERT_GT(child, 0);
  EXPECT_EQ(kill(child, 0), 0) << "the background child should still be running";
  kill(child, SIGKILL);
}

TEST(ShellHook, TimeoutKillsTheProcessGroup) {
  auto hook = instantiate<HookInstance>("shell", "{timeout: 300ms}");
  Phase p;
  p.commands = {"sleep 30"};
  EXPECT_NE(run(*hook, p).find("timed out after 300ms and was killed"), std::string::npos);
}
