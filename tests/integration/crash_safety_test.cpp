// SPDX-License-Identifier: Apache-2.0
// The promises of README's "Crash safety" section, each tried the way an
// operator meets it: the real binary, real files, kill -9 and signals at bad
// moments, a full disk, a restarted Consul, odd input on stdin.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "deploy_fixture.hpp"

using namespace haul::test;

namespace {

class CrashSafety : public DeployFixture {
 protected:
  // Names beside dest that start with prefix.
  std::vector<std::string> beside_dest(const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dest.parent_path()))
      if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().filename().string());
    return out;
  }
};

}  // namespace

// 1. Two builds within one second: same size, same mtime, other bytes.
TEST_F(CrashSafety, AChangedFileWithTheSameSizeAndMtimeIsNeverLeftStale) {
  auto a = publish("a", {dir_entry("./"), file_entry("version", "AAAA"), file_entry("lib.rb", "same")});
  auto b = publish("b", {dir_entry("./"), file_entry("version", "BBBB"), file_entry("lib.rb", "same")});
  ASSERT_EQ(haul({"deploy", a}).exit_code, 0);
  auto r = haul({"deploy", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "version"), "BBBB");
  EXPECT_NE(r.err.find("1 file with dest's size and mtime but new content written"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 file unchanged in dest"), std::string::npos) << r.err;
}

namespace {

// A process that exists and is not a zombie.
bool alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

pid_t read_pid(const fs::path& file) {
  std::ifstream in(file);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

}  // namespace

// 2. kill -9 while a pre command runs: the staging folder and the command's
// process group are left behind; the next deploy of that dest removes the
// one and ends the other (rsync and mv; release has its own test below).
TEST_F(CrashSafety, AKilledDeployLeavesNoStagingAndNoHookRunningAfterTheNextDeploy) {
  for (const std::string strategy : {"rsync", "mv"}) {
    SCOPED_TRACE(strategy);
    fs::remove_all(dest);
    fs::create_directories(dest.parent_path());
    const fs::path hook_pid = tmp / ("hook-" + strategy + ".pid");
    auto slow = publish("slow-" + strategy, {dir_entry("./"), file_entry("version", "slow")},
                        "sync_strategy: " + strategy + "\ncommands:\n  pre: ['echo $$ > " + hook_pid.string() +
                            "; exec sleep 60']\n");
    // Another dest whose name extends this one's: its staging is not ours.
    const fs::path other = dest.parent_path() / (".haul-staging-" + dest.filename().string() + "-x-ABCDEF");
    fs::create_directories(other);
    {
      BackgroundProcess haul_run(argv({"deploy", slow}), tmp / ("killed-" + strategy + ".log"));
      ASSERT_TRUE(wait_until([&] { return read_pid(hook_pid) > 0; })) << read_file(tmp / ("killed-" + strategy + ".log"));
      kill(haul_run.pid(), SIGKILL);  // fault injection: haul dies while its hook runs
      haul_run.wait_exit(std::chrono::seconds(10));
    }
    const pid_t hook = read_pid(hook_pid);
    ASSERT_TRUE(alive(hook)) << "the orphaned hook command is still running";
    ASSERT_EQ(beside_dest(".haul-staging-" + dest.filename().string()).size(), 2u) << "its staging folder, and the other dest's";

    auto next = publish("next-" + strategy, {dir_entry("./"), file_entry("version", "next")}, "sync_strategy: rsync\n");
    if (strategy == "mv") fs::remove_all(dest);  // mv wants an absent dest
    auto r = haul({"deploy", next});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(dest / "version"), "next");
    EXPECT_NE(r.err.find("was interrupted during pre"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("(the staging folder of an interrupted deploy)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("that the interrupted deploy left running"), std::string::npos) << r.err;
    EXPECT_TRUE(wait_until([&] { return !alive(hook); }, std::chrono::seconds(10))) << "the hook's group was ended";
    EXPECT_EQ(beside_dest(".haul-staging-" + dest.filename().string()), std::vector<std::string>{other.filename().string()});
    EXPECT_TRUE(beside_dest(".haul-" + dest.filename().string() + ".journal").empty()) << "a finished deploy leaves no journal";
    if (alive(hook)) kill(hook, SIGKILL);
    fs::remove_all(other);
  }
}

// 2. A fetch that fails (here: a checksum mismatch) is a finished deploy,
// not an interrupted one: no journal, no warning next time.
TEST_F(CrashSafety, AFailedFetchLeavesNoJournal) {
  auto good = publish("good", {dir_entry("./"), file_entry("version", "good")}, "sync_strategy: release\nrelease: good\n");
  ASSERT_EQ(haul({"deploy", good}).exit_code, 0);
  write_file(tmp / "bad.yml", "src: " + file_url(tmp / "good.tgz") + "\nchecksum: " + std::string(64, '0') +
                                  "\ndest: " + dest.string() + "\nsync_strategy: release\nrelease: bad\n");
  auto r = haul({"deploy", file_url(tmp / "bad.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dest / ".haul/journal.json"));
  auto listing = haul({"releases", dest.string()});
  EXPECT_EQ(listing.out.find("running or was interrupted"), std::string::npos) << listing.out;
  EXPECT_EQ(listing.out.find("bad"), std::string::npos) << "no trace of a release that never existed: " << listing.out;
  r = haul({"deploy", good});
  EXPECT_EQ(r.err.find("interrupted"), std::string::npos) << r.err;
  // rsync: the same.
  fs::remove_all(dest);
  write_file(tmp / "bad-rsync.yml", "src: " + file_url(tmp / "good.tgz") + "\nchecksum: " + std::string(64, '0') +
                                        "\ndest: " + dest.string() + "\n");
  EXPECT_EQ(haul({"deploy", file_url(tmp / "bad-rsync.yml")}).exit_code, 1);
  EXPECT_TRUE(beside_dest(".haul-" + dest.filename().string() + ".journal").empty());
  EXPECT_TRUE(beside_dest(".haul-staging-").empty());
}

namespace {

std::string read_file_or_empty(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    n += it->is_regular_file(ec) ? 1 : 0;
  return n;
}

}  // namespace

namespace {

// A small tmpfs of its own, so a test can fill it (needs root, as CI is).
class SmallDisk {
 public:
  SmallDisk(const fs::path& at, const std::string& size) : at_(at) {
    fs::create_directories(at);
    mounted_ = run_process({"/bin/mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", at.string()}).exit_code == 0;
  }
  ~SmallDisk() {
    if (mounted_) run_process({"/bin/umount", "-l", at_.string()});
  }
  bool mounted() const { return mounted_; }

 private:
  fs::path at_;
  bool mounted_ = false;
};

}  // namespace

// 3. kill -9 while old releases are being pruned: a release that is partly
// deleted is listed as "pruning", is never a rollback target, and the next
// deploy finishes deleting it.
TEST_F(CrashSafety, APartlyPrunedReleaseIsNeverListedAsGood) {
  constexpr int kFiles = 3000;
  SmallDisk disk(tmp / "disk", "256m");  // the machine's disk is slow for many small files; tmpfs if we may
  if (disk.mounted()) dest = tmp / "disk/app";
  auto release = [&](const std::string& id) {
    std::vector<Entry> entries{dir_entry("./"), file_entry("version", id)};
    for (int i = 0; i < kFiles; ++i) entries.push_back(file_entry("f/" + std::to_string(i), id + std::to_string(i)));
    return publish(id, entries, "sync_strategy: release\nrelease: " + id + "\nkeep_releases: 1\n");
  };
  const auto v1 = release("v1"), v2 = release("v2"), v3 = release("v3"), v4 = release("v4");
  int partial = 0;
  int attempts = 0;
  for (int attempt = 0; attempt < 20 && partial < 2; ++attempt) {
    ++attempts;
    fs::remove_all(dest);
    ASSERT_EQ(haul({"deploy", v1}).exit_code, 0);
    ASSERT_EQ(haul({"deploy", v2}).exit_code, 0);
    // v3 prunes v1 (v2 is kept as the previous good release): kill it there.
    BackgroundProcess run(argv({"deploy", v3}), tmp / "prune.log");
    // v1's result record turns "pruning" just before its files go.
    while (run.running() && read_file_or_empty(dest / ".haul/releases/v1.result").rfind("pruning", 0) != 0) usleep(100);
    usleep(static_cast<useconds_t>(attempt * 300));  // different points into the deletion
    kill(run.pid(), SIGKILL);  // fault injection: mid-prune
    run.wait_exit(std::chrono::seconds(10));
    if (!fs::exists(dest / "releases/v1") || count_files(dest / "releases/v1") == kFiles + 1u) continue;  // before or after
    ++partial;
    auto listing = haul({"releases", dest.string()});
    std::string v1_line = listing.out.substr(listing.out.find("v1"));
    v1_line = v1_line.substr(0, v1_line.find('\n'));
    EXPECT_NE(v1_line.find("pruning"), std::string::npos) << listing.out;
    auto rollback = haul({"rollback", dest.string(), "--to", "v1"});
    EXPECT_NE(rollback.exit_code, 0);
    EXPECT_NE(rollback.err.find("release v1 was being pruned"), std::string::npos) << rollback.err;
    EXPECT_EQ(fs::read_symlink(dest / "current").filename(), "v3");
    auto next = haul({"deploy", v4});
    EXPECT_EQ(next.exit_code, 0) << next.err;
    EXPECT_NE(next.err.find("a release whose pruning was interrupted"), std::string::npos) << next.err;
    EXPECT_FALSE(fs::exists(dest / "releases/v1"));
  }
  EXPECT_GE(partial, 1) << "no kill landed inside the deletion of v1's " << kFiles << " files";
  std::cout << "kill -9 landed inside the pruning of v1 in " << partial << " of " << attempts << " attempts\n";
}


// 3. kill -9 at two steps of a release's bookkeeping, named so that the
// kill lands there every run (HAUL_TEST_CRASH_AT, util/crash_point.hpp):
// between a release's metadata and its result record, and in the deploy
// that takes over the journal of a killed one, before it has cleaned up
// after it. The next deploy succeeds, leaves no record without a release,
// and no release "deploying" (retention never takes one).
TEST_F(CrashSafety, AKillInTheReleaseBookkeepingNeitherStopsTheNextDeployNorLeavesAReleaseDeploying) {
  auto release = [&](const std::string& id, const std::string& extra = "") {
    return publish(id, {dir_entry("./"), file_entry("version", id)}, "sync_strategy: release\nrelease: " + id + "\n" + extra);
  };
  auto killed_at = [&](const std::string& id, const std::string& point) {
    return haul({"deploy", release(id)}, "", {{"HAUL_TEST_CRASH_AT", point}});
  };
  const fs::path records = dest / ".haul/releases";
  ASSERT_EQ(haul({"deploy", release("v1")}).exit_code, 0);

  auto r = killed_at("v2", "release-meta-saved");
  ASSERT_EQ(r.exit_code, -1) << r.err;
  ASSERT_TRUE(fs::exists(records / "v2.json"));
  ASSERT_FALSE(fs::exists(records / "v2.result"));
  r = haul({"deploy", release("v3")});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // not "cannot update …/v2.result: No such file or directory"
  EXPECT_NE(r.err.find("v2.json (a record of a release that has no folder)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(records / "v2.json"));
  EXPECT_EQ(fs::read_symlink(dest / "current").filename(), "v3");

  // v4 is killed by its pre command, committed and still "deploying"; v5 as
  // it takes over from v4: the journal names v5 alone.
  r = haul({"deploy", release("v4", "commands:\n  pre: ['kill -9 $PPID']\n")});
  ASSERT_EQ(r.exit_code, -1) << r.err;
  ASSERT_EQ(read_file_or_empty(records / "v4.result").rfind("deploying", 0), 0u);
  r = killed_at("v5", "release-journal-taken-over");
  ASSERT_EQ(r.exit_code, -1) << r.err;
  r = haul({"deploy", release("v6")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("release v4 was left deploying by an interrupted deploy"), std::string::npos) << r.err;
  EXPECT_EQ(read_file_or_empty(records / "v4.result").rfind("interrupted", 0), 0u);
  const auto listing = haul({"releases", dest.string()});
  EXPECT_EQ(listing.out.find("deploying"), std::string::npos) << listing.out;
}

// 4. The disk fills up after the switch (here: a post command fills it):
// what is recorded still matches current, and no hook is told both stories.
TEST_F(CrashSafety, AFullDiskAfterTheSwitchLeavesTheRecordTrue) {
  SmallDisk disk(tmp / "disk", "4m");
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a small tmpfs";
  dest = tmp / "disk/app";
  const std::string many_files_extra = "sync_strategy: release\nkeep_releases: 5\n";
  std::vector<Entry> files{dir_entry("./")};
  for (int i = 0; i < 400; ++i) files.push_back(file_entry("f/" + std::to_string(i), std::string(100, 'a' + i % 26)));
  auto v1 = publish("v1", files, many_files_extra + "release: v1\n");
  files.push_back(file_entry("version", "v2"));
  const fs::path failure_ran = tmp / "failure-ran";
  auto v2 = publish("v2", files,
                    many_files_extra + "release: v2\ncommands:\n  post: ['cat /dev/zero > " +
                        (tmp / "disk/filler").string() + " 2>/dev/null; true']\n  failure: ['touch " +
                        failure_ran.string() + "']\n");
  ASSERT_EQ(haul({"deploy", v1}).exit_code, 0);
  auto r = haul({"deploy", v2});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::read_symlink(dest / "current").filename(), "v2");
  EXPECT_FALSE(fs::exists(failure_ran));
  auto listing = haul({"releases", dest.string()});
  EXPECT_NE(listing.out.find("* v2"), std::string::npos) << listing.out;
  std::string v2_line = listing.out.substr(listing.out.find("* v2"));
  EXPECT_NE(v2_line.substr(0, v2_line.find('\n')).find("success"), std::string::npos) << listing.out;

  // Nearly full when the next deploy starts (room for the previous
  // release's size, not for this bigger one): it fails naming path and
  // errno, and leaves nothing behind.
  fs::remove(tmp / "disk/filler");
  struct statvfs vfs;
  ASSERT_EQ(statvfs((tmp / "disk").c_str(), &vfs), 0);
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  write_file(tmp / "disk/filler", std::string(free_bytes - (200 << 10), 'x'));
  for (int i = 0; i < 400; ++i) files.push_back(file_entry("g/" + std::to_string(i), std::string(2000, 'b' + i % 20)));
  auto v3 = publish("v3", files, many_files_extra + "release: v3\n");
  r = haul({"deploy", v3});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_EQ(fs::read_symlink(dest / "current").filename(), "v2");
  EXPECT_FALSE(fs::exists(dest / "releases/v3"));
  EXPECT_FALSE(fs::exists(dest / ".haul/journal.json"));
  listing = haul({"releases", dest.string()});
  EXPECT_EQ(listing.out.find("v3"), std::string::npos) << listing.out;
  EXPECT_EQ(listing.out.find("unknown"), std::string::npos) << listing.out;
}

// 5. The first SIGTERM lets the deploy in progress finish, its post command
// included; the second aborts it safely (rolled back, rollback commands run).
TEST_F(CrashSafety, FirstSigtermFinishesTheDeploySecondAbortsItSafely) {
  const fs::path started = tmp / "post-started", finished = tmp / "post-finished", rolled = tmp / "rolled-back";
  auto v1 = publish("v1", {dir_entry("./"), file_entry("version", "v1")},
                    "sync_strategy: release\nrelease: v1\ncommands:\n  rollback: ['touch " + rolled.string() + "']\n");
  auto v2 = publish("v2", {dir_entry("./"), file_entry("version", "v2")},
                    "sync_strategy: release\nrelease: v2\ncommands:\n  post: ['touch " + started.string() +
                        "; sleep 1; touch " + finished.string() + "']\n");
  ASSERT_EQ(haul({"deploy", v1}).exit_code, 0);
  {
    BackgroundProcess run(argv({"deploy", v2}), tmp / "term1.log");
    ASSERT_TRUE(wait_until([&] { return fs::exists(started); })) << read_file(tmp / "term1.log");
    kill(run.pid(), SIGTERM);
    EXPECT_EQ(run.wait_exit(std::chrono::seconds(30)), std::optional<int>(0)) << read_file(tmp / "term1.log");
    EXPECT_TRUE(fs::exists(finished)) << "the post command ran to its end";
    EXPECT_EQ(fs::read_symlink(dest / "current").filename(), "v2");
    EXPECT_TRUE(file_contains(tmp / "term1.log", "finishing the deploy in progress")) << read_file(tmp / "term1.log");
  }
  // Twice: the post command is killed, current goes back to v1 and v1's
  // rollback command runs.
  fs::remove(started);
  auto v3 = publish("v3", {dir_entry("./"), file_entry("version", "v3")},
                    "sync_strategy: release\nrelease: v3\ncommands:\n  post: ['touch " + started.string() +
                        "; sleep 60']\n  rollback: ['touch " + rolled.string() + "']\n");
  BackgroundProcess run(argv({"deploy", v3}), tmp / "term2.log");
  ASSERT_TRUE(wait_until([&] { return fs::exists(started); })) << read_file(tmp / "term2.log");
  kill(run.pid(), SIGTERM);
  ASSERT_TRUE(wait_until([&] { return file_contains(tmp / "term2.log", "finishing the deploy in progress"); }));
  kill(run.pid(), SIGTERM);
  EXPECT_EQ(run.wait_exit(std::chrono::seconds(30)), std::optional<int>(1)) << read_file(tmp / "term2.log");
  EXPECT_EQ(fs::read_symlink(dest / "current").filename(), "v2");
  EXPECT_TRUE(fs::exists(rolled)) << "the rollback commands ran despite the abort";
  EXPECT_TRUE(file_contains(tmp / "term2.log", "rolled back: current -> releases/v2")) << read_file(tmp / "term2.log");
  EXPECT_TRUE(file_contains(tmp / "term2.log", ": current points at the previous release again"))
      << "the last line says what is true of dest: " << read_file(tmp / "term2.log");
}

// 5. In the handler (and the agent), an aborted deploy is not recorded as
// applied: the same event deploys when it comes again.
TEST_F(CrashSafety, AnAbortedEventIsNotRecordedAsApplied) {
  const fs::path started = tmp / "pre-started";
  auto url = publish("ev", {dir_entry("./"), file_entry("version", "ev")},
                     "commands:\n  pre: ['touch " + started.string() + "; sleep 60']\n");
  const std::string event = "[{\"ID\":\"e-1\",\"Name\":\"deploy\",\"LTime\":7,\"Payload\":\"" + base64_of(url) + "\"}]";
  write_file(tmp / "event.json", event);
  const std::string handler = haul_binary().string() + " --state-dir " + (tmp / "state").string() + " < " +
                              (tmp / "event.json").string();
  {
    BackgroundProcess run({"/bin/bash", "-c", "exec " + handler}, tmp / "handler.log");
    ASSERT_TRUE(wait_until([&] { return fs::exists(started); })) << read_file(tmp / "handler.log");
    kill(run.pid(), SIGTERM);
    ASSERT_TRUE(wait_until([&] { return file_contains(tmp / "handler.log", "finishing the deploy in progress"); }));
    kill(run.pid(), SIGTERM);
    EXPECT_EQ(run.wait_exit(std::chrono::seconds(30)), std::optional<int>(1)) << read_file(tmp / "handler.log");
  }
  EXPECT_FALSE(fs::exists(dest / "version"));
  EXPECT_TRUE(file_contains(tmp / "handler.log", "not recorded as applied")) << read_file(tmp / "handler.log");
  // The event again, with a quick pre command this time: it deploys.
  write_file(tmp / "ev.yml", read_file(tmp / "ev.yml").substr(0, read_file(tmp / "ev.yml").find("commands:")));
  auto r = run_process({"/bin/bash", "-c", handler});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "version"), "ev");
  r = run_process({"/bin/bash", "-c", handler});
  EXPECT_NE(r.err.find("was already applied"), std::string::npos) << r.err;
}

// 7. Odd input on stdin is refused once, fast, with one exit code that
// matches the log: 200 MB of junk, and a valid line followed by a huge one.
TEST_F(CrashSafety, OversizedStdinIsRefusedOnceAndEndsTheRun) {
  const std::string haul_cmd = haul_binary().string();
  ProcessOptions o;
  o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "HAUL_PLUGIN_PATH"};
  o.timeout = std::chrono::seconds(60);
  auto r = run_process({"/bin/bash", "-c", "head -c 200000000 /dev/zero | tr '\\0' x | " + haul_cmd}, o);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, 2000);
  size_t refusals = 0;
  for (size_t at = r.err.find("stdin holds more than 16 MiB"); at != std::string::npos;
       at = r.err.find("stdin holds more than", at + 1))
    ++refusals;
  EXPECT_EQ(refusals, 1u) << r.err.substr(0, 2000);

  // Under consul watch: exit 0 (a non-zero exit would stop the watch), and end.
  o.env = {{"CONSUL_INDEX", "42"}};
  o.unset_env = {"SERF_USER_EVENT", "HAUL_PLUGIN_PATH"};
  r = run_process({"/bin/bash", "-c", "head -c 200000000 /dev/zero | tr '\\0' x | " + haul_cmd}, o);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err.substr(0, 2000);

  // A valid first line, then 17 MB: refused as a whole, nothing deployed.
  auto url = publish("ok", {dir_entry("./"), file_entry("version", "ok")});
  o.env.clear();
  o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "HAUL_PLUGIN_PATH"};
  r = run_process({"/bin/bash", "-c", "{ echo " + url + "; head -c 17000000 /dev/zero | tr '\\0' y; } | " + haul_cmd}, o);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::exists(dest / "version"));
  EXPECT_EQ(r.err.find("succeeded"), std::string::npos) << r.err.substr(0, 2000);
}
