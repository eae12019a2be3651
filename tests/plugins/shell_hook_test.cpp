// SPDX-License-Identifier: Apache-2.0
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

// A command's output line, as the hook marks it: "<phase `command`> line".
std::string output(const std::string& phase, const std::string& command, const std::string& line) {
  return "<" + phase + " `" + command + "`> " + line;
}

}  // namespace

TEST(ShellHook, RunsCommandsInOrderAndLogsTheirOutput) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.commands = {"echo one", "echo two >&2; echo three"};
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_TRUE(logged(p, output("pre", "echo one", "one")));
  EXPECT_TRUE(logged(p, output("pre", "echo two >&2; echo three", "two")));
  EXPECT_TRUE(logged(p, output("pre", "echo two >&2; echo three", "three")));
  EXPECT_TRUE(logged(p, "Invoking pre command: echo one"));
}

TEST(ShellHook, AFailingCommandStopsThePhaseWithItsStatus) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.commands = {"exit 3", "echo never"};
  EXPECT_EQ(run(*hook, p), "command `exit 3` failed: exit status 3");
  EXPECT_FALSE(logged(p, output("pre", "echo never", "never")));
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
  EXPECT_TRUE(logged(p, output("failure", "wc -l | tr -d ' '", "2")));
}

TEST(ShellHook, ACommandThatIgnoresAHugeLogDoesNotBreak) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.phase = HAUL_PHASE_SUCCESS;
  p.log_in = std::string(1 << 20, 'x');  // far beyond a pipe's buffer
  p.commands = {"echo ignored"};
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_TRUE(logged(p, output("success", "echo ignored", "ignored")));
}

TEST(ShellHook, DeployEnvironmentReachesTheCommand) {
  auto hook = instantiate<HookInstance>("shell");
  Phase p;
  p.env = {{"HAUL_PHASE", "post"}, {"HOME", "/overridden"}};
  p.commands = {"echo $HAUL_PHASE $HOME"};
  EXPECT_EQ(run(*hook, p), "");
  EXPECT_TRUE(logged(p, output("pre", "echo $HAUL_PHASE $HOME", "post /overridden")));
}

TEST(ShellHook, ABackgroundChildHoldingStdoutDoesNotHangThePhase) {
  auto hook = instantiate<HookInstance>("shell", "{output_grace: 100ms}");
  Phase p;
  p.commands = {"sleep 300 & echo child=$!"};
  EXPECT_EQ(run(*hook, p), "");
  // The phase returned while the child still holds the output pipe open.
  pid_t child = 0;
  const std::string mark = output("pre", p.commands[0], "child=");
  for (const auto& line : p.lines)
    if (line.rfind(mark, 0) == 0) child = static_cast<pid_t>(std::stoi(line.substr(mark.size())));
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
