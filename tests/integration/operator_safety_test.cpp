// SPDX-License-Identifier: Apache-2.0
// Operator safety through the real binary: a typo in a manifest never costs
// data, `haul plan` says what a deploy would do and changes nothing, a first
// deploy into a folder haul never deployed to says so loudly, and logs stay
// readable whatever they echo.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "deploy_fixture.hpp"

using namespace haul::test;

namespace {

class Operator : public DeployFixture {};

// path → content of every file under dir (and "/" for folders).
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out[fs::relative(e.path(), dir).string()] = e.is_regular_file() ? read_file(e.path()) : "/";
  return out;
}

}  // namespace

TEST_F(Operator, AMisspelledExcludeIsRefusedAndDeletesNothing) {
  write_file(dest / "app.pid", "1234");
  write_file(dest / "index.html", "old");
  auto url = publish("typo", {file_entry("index.html", "new")}, "exclude: ['*.pid']\n");
  auto r = haul({"deploy", url});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown field 'exclude' — did you mean 'excludes'?"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dest / "app.pid"), "1234");
  EXPECT_EQ(read_file(dest / "index.html"), "old");
  // A far-off unknown field is only warned about, as stretcher ignored it;
  // --strict refuses it.
  url = publish("extra", {file_entry("index.html", "new")}, "excludes: ['*.pid']\nowner: app\n");
  r = haul({"deploy", url, "--strict"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown field 'owner' (strict"), std::string::npos) << r.err;
  r = haul({"deploy", url});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("unknown field 'owner' ignored"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dest / "app.pid"), "1234");
}

TEST_F(Operator, RelativeDestIsRefusedWhereverHaulRuns) {
  const std::string tar = make_tar({file_entry("index.html", "x")});
  write_file(tmp / "rel.tgz", tar);
  write_file(tmp / "rel.yml", "src: " + file_url(tmp / "rel.tgz") + "\nchecksum: " + sha256_hex(tar) + "\ndest: relwww\n");
  auto r = haul({"deploy", file_url(tmp / "rel.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("dest: 'relwww' is a relative path"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "relwww"));
}

TEST_F(Operator, ADestWrittenWithATrailingSlashIsTheSameFolder) {
  // rsync, behind stretcher, takes "/srv/app/" as "/srv/app"; so does haul.
  for (const std::string strategy : {"rsync", "release"}) {
    SCOPED_TRACE(strategy);
    const std::string tar = make_tar({file_entry("index.html", strategy)});
    write_file(tmp / "slash.tgz", tar);
    const fs::path where = tmp / ("slash-" + strategy);
    write_file(tmp / "slash.yml", "src: " + file_url(tmp / "slash.tgz") + "\nchecksum: " + sha256_hex(tar) +
                                      "\ndest: " + where.string() + "//\nsync_strategy: " + strategy + "\n");
    for (int i = 0; i < 2; ++i) {  // a missing dest, then one that exists
      auto r = haul({"deploy", file_url(tmp / "slash.yml")});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    EXPECT_EQ(read_file(where / (strategy == "release" ? "current/index.html" : "index.html")), strategy);
    EXPECT_FALSE(fs::exists(where / ".haul-.applied.json"));  // haul's own files go beside dest, not in it
  }
}

TEST_F(Operator, PlanSaysWhatTheDeployWouldDoAndChangesNothing) {
  write_file(dest / "stray.txt", "not haul's");
  write_file(dest / "tmp/app.pid", "1");
  write_file(dest / "lib/a.rb", "a");
  auto url = publish("v1", {dir_entry("./"), file_entry("index.html", "v1"), file_entry("lib/a.rb", "A")},
                     "excludes: ['*.pid']\ncommands:\n  post: ['echo restarted']\n");
  const auto before = files_of(dest);
  for (const std::vector<std::string>& args : {std::vector<std::string>{"plan", url},
                                              std::vector<std::string>{"deploy", "--dry-run", url}}) {
    auto r = haul(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(files_of(dest), before) << "a plan changes nothing";
    EXPECT_NE(r.out.find("replaces:  a folder haul has NEVER deployed to"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("files:     1 new, 1 changed, 0 unchanged, 1 deleted, 1 kept by excludes"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("this deploy DELETES 1 of them"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("    stray.txt\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("kept by excludes:\n    tmp/app.pid"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("post: echo restarted"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("restarted"), std::string::npos) << "no command runs in a plan";
  }
  // The deploy itself says it loudly too, then the plan of the same release
  // shows nothing left to do.
  auto r = haul({"deploy", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("haul has never deployed to it: whatever the release does not hold will be DELETED"),
            std::string::npos)
      << r.err;
  r = haul({"plan", url});
  EXPECT_NE(r.out.find("files:     0 new, 0 changed, 2 unchanged, 0 deleted, 1 kept by excludes"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("replaces:  the release from " + url), std::string::npos) << r.out;
  // A same-size, same-mtime edit shows as changed, as the deploy would write it.
  auto v2 = publish("v2", {dir_entry("./"), file_entry("index.html", "v2"), file_entry("lib/a.rb", "A")},
                    "excludes: ['*.pid']\n");
  r = haul({"plan", v2});
  EXPECT_NE(r.out.find("files:     0 new, 1 changed, 1 unchanged"), std::string::npos) << r.out;
  // A broken checksum: the plan fails like the deploy would.
  write_file(tmp / "bad.yml", "src: " + file_url(tmp / "v2.tgz") + "\nchecksum: " + std::string(64, '0') +
                                  "\ndest: " + dest.string() + "\n");
  r = haul({"plan", file_url(tmp / "bad.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
}

TEST_F(Operator, PlanForAReleaseDestComparesWithTheCurrentRelease) {
  auto v1 = publish("v1", {file_entry("a", "1"), file_entry("b", "2")}, "sync_strategy: release\nrelease: v1\n");
  ASSERT_EQ(haul({"deploy", v1}).exit_code, 0);
  auto v2 = publish("v2", {file_entry("a", "1"), file_entry("c", "3")}, "sync_strategy: release\nrelease: v2\n");
  auto r = haul({"plan", v2});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("replaces:  release v1 (current)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("files:     1 new, 0 changed, 1 unchanged, 1 not in the new release"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dest / "releases/v2"));
}

// Whatever haul echoes — stdin, a URL, a command's output — reaches the log
// escaped and cut, and levels read as the --log-level flag spells them.
TEST_F(Operator, LogsEscapeControlCodesAndSpellLevelsAsTheFlag) {
  auto r = haul({}, "file:///nowhere/\x1b[31mred\x07.yml\n");
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "no terminal escape reaches the log";
  EXPECT_NE(r.err.find("\\x1b[31mred\\x07"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" warning "), std::string::npos) << r.err;
  r = haul({"deploy", "file:///nowhere.yml", "--log-format", "json"});
  EXPECT_EQ(r.err.find("\"level\":\"warning\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"level\":\"error\""), std::string::npos) << r.err;
}

// A hook command's output is marked with its phase and command: `ls`
// printing README never reads as one of haul's lines; JSON logs carry it as
// fields.
TEST_F(Operator, HookOutputIsMarkedWithPhaseAndCommand) {
  auto url = publish("v1", {file_entry("README", "x")}, "commands:\n  post: ['ls " + dest.string() + "']\n");
  auto r = haul({"deploy", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[default] <post `ls " + dest.string() + "`> README\n"), std::string::npos) << r.err;
  r = haul({"deploy", url, "--log-format", "json"});
  EXPECT_NE(r.err.find("\"command\":\"ls " + dest.string() + "\",\"hook_phase\":\"post\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"msg\":\"README\""), std::string::npos) << r.err;
}

// A second event for the release that is already live does not make a
// copy of it ("R-2"); another release with a taken id still gets one.
TEST_F(Operator, TheReleaseAlreadyLiveIsNotDeployedAgainAsACopy) {
  auto v1 = publish("v1", {file_entry("a", "1")}, "sync_strategy: release\nrelease: v1\n");
  ASSERT_EQ(haul({"deploy", v1}).exit_code, 0);
  auto r = haul({"deploy", v1});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("release v1 from this manifest is already current"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dest / "releases/v1-2"));
  EXPECT_EQ(fs::read_symlink(dest / "current").filename(), "v1");
}

// On a terminal a download shows a live progress line (bytes, total, rate,
// time left), cleared at the end; "Fetched" states the rate either way.
TEST_F(Operator, ADownloadShowsProgressOnATerminal) {
  std::string blob(60000, '\0');
  uint64_t x = 7;
  for (auto& c : blob) c = static_cast<char>((x = x * 6364136223846793005ull + 1) >> 56);  // incompressible
  const std::string tar = make_tar({file_entry("blob", blob)});
  write_file(tmp / "www/slow.tgz", tar);
  NginxServer nginx(tmp / "www");
  write_file(tmp / "slow.yml", "src: " + nginx.url("/slow/slow.tgz") + "\nchecksum: " + sha256_hex(tar) +
                                   "\ndest: " + (tmp / "dest").string() + "\n");
  // script(1) gives haul a terminal, as an operator's shell would.
  const std::string cmd = haul_binary().string() + " deploy " + file_url(tmp / "slow.yml");
  auto r = run_process({"/usr/bin/script", "-qec", cmd, "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\r\033[K  Fetching " + nginx.url("/slow/slow.tgz") + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" of " ), std::string::npos) << "the total is known from Content-Length: " << r.out;
  EXPECT_NE(r.out.find(" left"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Fetched " + nginx.url("/slow/slow.tgz") + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("B/s)"), std::string::npos) << "the rate is stated: " << r.out;
}

// Help and usage: the top level lists every flag, each command only its
// own; a wrong command line exits 2 everywhere; stretcher's spelling
// `-rsync-verbose -v` is accepted.
TEST_F(Operator, HelpListsEveryFlagAndUsageErrorsExitTwo) {
  auto r = haul({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--log-format", "--trusted-key", "--allow-downgrade", "--strict", "--dry-run", "haul plan"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << " missing from haul --help";
  r = haul({"fetch", "--help"});
  EXPECT_NE(r.out.find("--retry"), std::string::npos) << r.out;
  for (const char* deploy_only : {"--rsync-verbose", "--random-delay", "--trusted-key", "--allow-downgrade"})
    EXPECT_EQ(r.out.find(deploy_only), std::string::npos) << deploy_only << " is not a fetch flag";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"pack"}, {"publish"}, {"kick"}, {"fetch"},
                                              {"pack", "--bogus"}, {"deploy", "--bogus"}, {"rollback", "/x", "--bogus"},
                                              {"plan"}}) {
    r = haul(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << (args.size() > 1 ? " " + args[1] : "") << ": " << r.err;
  }
  auto url = publish("v1", {file_entry("index.html", "v1")});
  r = haul({"-rsync-verbose", "-v"}, url + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
}

// Every spelling either stretcher release accepts — Go's flag package in
// older ones, kong in current ones — with the same meaning.
TEST_F(Operator, EveryStretcherFlagSpellingIsAccepted) {
  auto url = publish("v1", {file_entry("index.html", "v1")});
  const std::vector<std::vector<std::string>> spellings = {
      {"-max-bandwidth", "10M"},     {"-max-bandwidth=10M"}, {"--max-band-width=10M"}, {"--max-band-width", "10M"},
      {"-max-band-width=10M"},       {"--max-bandwidth=10M"}, {"-timeout", "600"},     {"--timeout=10m"},
      {"-random-delay", "0"},        {"--random-delay=0s"},  {"-retry", "3"},          {"--retry=3"},
      {"-retry-wait", "3"},          {"--retry-wait=2s"},    {"-rsync-verbose", "-v"}, {"-rsync-verbose="},
      {"--rsync-verbose=-v"}};
  for (const auto& flags : spellings) {
    fs::remove_all(dest);
    auto r = haul(flags, url + "\n");
    EXPECT_EQ(r.exit_code, 0) << flags[0] << ": " << r.err;
    EXPECT_EQ(read_file(dest / "index.html"), "v1") << flags[0];
  }
  // The same meaning: a bad value is judged by the one option behind both names.
  for (const char* flag : {"--max-band-width=fast", "-max-bandwidth=fast"}) {
    auto r = haul({flag}, url + "\n");
    EXPECT_NE(r.exit_code, 0) << flag;
    EXPECT_NE(r.err.find("--max-bandwidth: expected bytes per second like 800k, 10M, 1.5MiB; got 'fast'"),
              std::string::npos)
        << flag << ": " << r.err;
  }
  for (const char* flag : {"-v", "--version"}) {
    auto r = haul({flag});
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_EQ(r.out.rfind("haul ", 0), 0u) << flag << ": " << r.out;
    EXPECT_NE(r.out.find("Licensed under the Apache License 2.0"), std::string::npos) << flag << ": " << r.out;
  }
}

// A payload of megabytes is refused once, not echoed through every line.
TEST_F(Operator, AHugePayloadIsRefusedOnceNotEchoed) {
  auto r = haul({}, std::string(10'000'000, 'a') + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a manifest URL (one line of at most 4096 bytes expected)"), std::string::npos)
      << r.err.substr(0, 1000);
  EXPECT_LT(r.err.size(), 4000u) << "the input is not echoed: " << r.err.size() << " bytes of log";
}
