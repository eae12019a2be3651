// SPDX-License-Identifier: Apache-2.0
// sync_strategy: release through the real binary: the atomic switch seen by
// a concurrent reader, automatic and manual rollback, retention, hard-link
// reuse, the dest lock, and kill -9 at random points of a deploy.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <atomic>
#include <iostream>
#include <random>
#include <thread>

#include "test_support.hpp"

using namespace haul::test;

namespace {

class Releases : public ::testing::Test {
 protected:
  TempDir tmp;
  fs::path dest = tmp / "app";

  // A release of `files` files, each holding `version`; returns the manifest URL.
  std::string publish(const std::string& version, const std::string& extra = "", int files = 3,
                      const std::map<std::string, std::string>& overrides = {}) {
    std::vector<Entry> entries = {dir_entry("./"), dir_entry("./lib")};
    for (int i = 0; i < files; ++i) {
      std::string name = "lib/f" + std::to_string(i) + ".txt";
      auto it = overrides.find(name);
      entries.push_back(file_entry(name, it != overrides.end() ? it->second : "content " + std::to_string(i) + "\n"));
    }
    entries.push_back(file_entry("VERSION", version));
    const std::string tar = make_tar(entries);
    write_file(tmp / (version + ".tgz"), tar);
    write_file(tmp / (version + ".yml"), "src: " + file_url(tmp / (version + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                             "\ndest: " + dest.string() + "\nsync_strategy: release\nrelease: " + version +
                                             "\n" + extra);
    return file_url(tmp / (version + ".yml"));
  }

  ProcessResult haul(const std::vector<std::string>& args) {
    std::vector<std::string> argv{haul_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT"};
    return run_process(argv, o);
  }

  std::string current() {
    std::error_code ec;
    return fs::read_symlink(dest / "current", ec).filename().string();
  }
};

ino_t inode(const fs::path& p) {
  struct stat st;
  stat(p.c_str(), &st);
  return st.st_ino;
}

}  // namespace

TEST_F(Releases, LayoutSharedLinksAndEnvironment) {
  auto r = haul({"deploy", publish("v1", "linked_dirs: [log, tmp/pids]\nlinked_files: [config/database.yml]\n"
                                         "commands:\n  post: ['echo $HAUL_RELEASE $HAUL_RELEASE_DIR > " + (tmp / "env").string() + "']\n")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(current(), "v1");
  EXPECT_EQ(read_file(dest / "current/VERSION"), "v1");
  EXPECT_TRUE(fs::is_symlink(dest / "releases/v1/log"));
  EXPECT_TRUE(fs::is_directory(dest / "shared/log"));
  EXPECT_TRUE(fs::is_directory(dest / "shared/tmp/pids"));
  EXPECT_TRUE(fs::exists(dest / "shared/config/database.yml"));
  write_file(dest / "current/log/app.log", "kept across releases");
  EXPECT_EQ(read_file(dest / "shared/log/app.log"), "kept across releases");
  EXPECT_EQ(read_file(tmp / "env"), "v1 " + (dest / "releases/v1").string() + "\n");
  r = haul({"releases", dest.string()});
  EXPECT_NE(r.out.find("* v1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("success"), std::string::npos) << r.out;
}

TEST_F(Releases, AReaderOfCurrentNeverSeesAMissingOrMixedRelease) {
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, bad{0};
  std::string first_bad;
  std::vector<std::string> urls;
  for (int v = 0; v < 50; ++v) urls.push_back(publish("v" + std::to_string(v), "keep_releases: 3\n", 3));
  ASSERT_EQ(haul({"deploy", urls[0]}).exit_code, 0);
  std::thread reader([&] {
    while (!done) {
      // Resolve current once, then read the whole release through it.
      char buf[PATH_MAX];
      if (!realpath((dest / "current").c_str(), buf)) {
        if (bad++ == 0) first_bad = "current missing";
        continue;
      }
      try {
        std::string version = read_file(fs::path(buf) / "VERSION");
        for (int i = 0; i < 3; ++i)
          if (read_file(fs::path(buf) / ("lib/f" + std::to_string(i) + ".txt")) != "content " + std::to_string(i) + "\n")
            throw std::runtime_error("mixed release " + version);
        ++reads;
      } catch (const std::exception& e) {
        // A release pruned after we resolved it is gone, not torn: only a
        // release that still exists may not be incomplete.
        if (fs::exists(buf) && bad++ == 0) first_bad = e.what();
      }
    }
  });
  for (int v = 1; v < 50; ++v) ASSERT_EQ(haul({"deploy", urls[v]}).exit_code, 0);
  done = true;
  reader.join();
  EXPECT_EQ(bad, 0) << first_bad;
  EXPECT_GT(reads, 50);
  EXPECT_EQ(current(), "v49");
}

TEST_F(Releases, FailingVerifyRollsBackBeforeFailureCommands) {
  ASSERT_EQ(haul({"deploy", publish("v1", "commands:\n  rollback: ['echo rollback-ran-in $HAUL_RELEASE >> " +
                                              (tmp / "rb").string() + "']\n")}).exit_code, 0);
  auto r = haul({"deploy", publish("v2", "commands:\n  verify: ['test \"$(cat $HAUL_RELEASE_DIR/VERSION)\" = healthy']\n"
                                         "  rollback: ['echo rollback-ran-in $HAUL_RELEASE >> " + (tmp / "rb").string() + "']\n"
                                         "  failure: ['readlink " + (dest / "current").string() + " > " +
                                         (tmp / "current-at-failure").string() + "']\n")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(current(), "v1");
  EXPECT_NE(r.err.find("rolled back: current -> releases/v1"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(tmp / "current-at-failure"), "releases/v1\n") << "switched back before failure commands";
  EXPECT_EQ(read_file(tmp / "rb"), "rollback-ran-in v2\n");
  r = haul({"releases", dest.string()});
  EXPECT_NE(r.out.find("failure"), std::string::npos) << r.out;

  // Its verify failed here: going back to it is a deliberate act.
  r = haul({"rollback", dest.string(), "--to", "v2"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("release v2 did not deploy well here (result: failure)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("needs --force"), std::string::npos) << r.err;
  EXPECT_EQ(current(), "v1");
  r = haul({"rollback", dest.string(), "--to", "v2", "--force"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("rolling back to it anyway (--force)"), std::string::npos) << r.err;
  EXPECT_EQ(current(), "v2");
  // Leaving it again does not make it a release an operator merely turned
  // away from: it failed here, and stays so.
  ASSERT_EQ(haul({"rollback", dest.string(), "--to", "v1"}).exit_code, 0);
  r = haul({"rollback", dest.string(), "--to", "v2"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("needs --force"), std::string::npos) << r.err;
}

TEST_F(Releases, ManualRollbackAndRollForward) {
  ASSERT_EQ(haul({"deploy", publish("v1", "commands:\n  rollback: ['echo back-to v1 >> " + (tmp / "rb").string() + "']\n")}).exit_code, 0);
  ASSERT_EQ(haul({"deploy", publish("v2")}).exit_code, 0);
  auto r = haul({"rollback", dest.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(current(), "v1");
  EXPECT_EQ(read_file(tmp / "rb"), "back-to v1\n");
  r = haul({"rollback", dest.string(), "--to", "v2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(current(), "v2");
  r = haul({"rollback", dest.string(), "--to", "v9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no release v9"), std::string::npos) << r.err;
}

// Deploying a release again after rolling back from it makes R-2 once; the
// same deploy again finds it current, instead of … with every hook
// run again and retention pruning the good releases away.
TEST_F(Releases, TheSameManifestAgainAfterARollbackIsCurrentNotANewCopy) {
  ASSERT_EQ(haul({"deploy", publish("v1")}).exit_code, 0);
  const std::string v2 = publish("v2", "commands:\n  post: ['echo post >> " + (tmp / "posts").string() + "']\n");
  ASSERT_EQ(haul({"deploy", v2}).exit_code, 0);
  ASSERT_EQ(haul({"rollback", dest.string()}).exit_code, 0);
  auto r = haul({"deploy", v2});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(current(), "v2-2");
  for (int again = 0; again < 2; ++again) {
    r = haul({"deploy", v2});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("release v2-2 from this manifest is already current"), std::string::npos) << r.err;
  }
  EXPECT_EQ(current(), "v2-2");
  EXPECT_FALSE(fs::exists(dest / "releases/v2-3"));
  EXPECT_EQ(read_file(tmp / "posts"), "post\npost\n") << "post ran for v2 and v2-2 only";
}

TEST_F(Releases, RetentionKeepsCurrentAndThePreviousGoodOne) {
  ASSERT_EQ(haul({"deploy", publish("v1", "keep_releases: 1\n")}).exit_code, 0);
  ASSERT_EQ(haul({"deploy", publish("v2", "keep_releases: 1\ncommands:\n  pre: ['exit 1']\n")}).exit_code, 1);
  ASSERT_EQ(haul({"deploy", publish("v3", "keep_releases: 1\n")}).exit_code, 0);
  // N=1: current (v3) and the newest good release before it (v1) survive; the failed v2 goes first.
  EXPECT_TRUE(fs::exists(dest / "releases/v3"));
  EXPECT_TRUE(fs::exists(dest / "releases/v1"));
  EXPECT_FALSE(fs::exists(dest / "releases/v2"));
  ASSERT_EQ(haul({"deploy", publish("v4", "keep_releases: 1\n")}).exit_code, 0);
  EXPECT_FALSE(fs::exists(dest / "releases/v1"));
  EXPECT_TRUE(fs::exists(dest / "releases/v3"));
  EXPECT_TRUE(fs::exists(dest / "releases/v4"));
}

TEST_F(Releases, UnchangedFilesAreHardLinkedNotWritten) {
  ASSERT_EQ(haul({"deploy", publish("v1", "", 100)}).exit_code, 0);
  auto r = haul({"deploy", publish("v2", "", 100, {{"lib/f7.txt", "changed\n"}})});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(99 unchanged files hard-linked from release v1"), std::string::npos) << r.err;
  EXPECT_EQ(inode(dest / "releases/v1/lib/f3.txt"), inode(dest / "releases/v2/lib/f3.txt"));
  EXPECT_NE(inode(dest / "releases/v1/lib/f7.txt"), inode(dest / "releases/v2/lib/f7.txt"));
  EXPECT_EQ(read_file(dest / "releases/v2/lib/f7.txt"), "changed\n");
  EXPECT_EQ(read_file(dest / "releases/v1/lib/f7.txt"), "content 7\n");
}

TEST_F(Releases, ASecondDeployWaitsForTheLockThenGivesUpClearly) {
  std::string url = publish("v1");
  fs::create_directories(dest / ".haul");
  int fd = open((dest / ".haul/lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  write_file(tmp / "haul.yaml", "pipelines:\n  p:\n    trigger: consul-watch\n    deploy: { lock_timeout: 300ms }\n");
  auto r = haul({"deploy", url, "--config", (tmp / "haul.yaml").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("another deploy holds " + (dest / ".haul/lock").string()), std::string::npos) << r.err;
  close(fd);  // the kernel releases the lock: no stale lock files
  r = haul({"deploy", url, "--config", (tmp / "haul.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Releases, Kill9AtRandomPointsNeverBreaksCurrent) {
  std::mt19937 rng(20261126);
  std::vector<std::string> urls;
  for (int v = 0; v < 4; ++v) urls.push_back(publish("k" + std::to_string(v), "keep_releases: 3\n", 400));
  // Kill times are spread over the length of one deploy on this machine, so
  // most kills land inside a deploy and some after it, whatever its speed.
  ASSERT_EQ(haul({"deploy", urls[0]}).exit_code, 0);
  const auto t0 = std::chrono::steady_clock::now();  // a redeploy, like the ones below
  ASSERT_EQ(haul({"deploy", urls[1]}).exit_code, 0);
  const auto one_deploy_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  // A deploy that finished before its kill narrows the window: a calibration
  // taken while the machine was busy must not leave most kills landing late.
  long long window_us = one_deploy_us;
  int interrupted = 0, runs = 0;
  for (; runs < 200 && (runs < 50 || interrupted < 30); ++runs) {
    const int i = runs;
    const std::string url = urls[1 + i % 3];
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(haul_binary().c_str(), "haul", "deploy", url.c_str(), nullptr);
      _exit(127);
    }
    // Fault injection: a kill at a random moment of the deploy, by design.
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<long long>(0, window_us)(rng)));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
      ++interrupted;
    else
      window_us = std::max(1000LL, window_us * 3 / 4);
    // Invariant: current points at a complete release.
    const std::string cur = current();
    ASSERT_FALSE(cur.empty()) << "iteration " << i;
    const fs::path rel = dest / "releases" / cur;
    // A redeploy of an id that already exists (e.g. left by a killed run) gets "-2", "-3"...
    const std::string version = read_file(rel / "VERSION");
    ASSERT_TRUE(cur == version || cur.rfind(version + "-", 0) == 0) << "iteration " << i << ": " << cur << " holds " << version;
    for (int f = 0; f < 400; f += 37)
      ASSERT_EQ(read_file(rel / ("lib/f" + std::to_string(f) + ".txt")), "content " + std::to_string(f) + "\n");
  }
  EXPECT_GE(interrupted, 15) << "most kills must land inside deploys";
  std::cout << "kill -9 landed inside " << interrupted << " of " << runs << " deploys; current was complete after every one\n";
  // The next deploy reports the interrupted one and cleans up after it.
  auto r = haul({"deploy", urls[1]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& e : fs::directory_iterator(dest / "releases"))
    EXPECT_NE(e.path().filename().string().rfind(".staging-", 0), 0u) << e.path();
  EXPECT_FALSE(fs::exists(dest / ".haul/journal.json"));
}

TEST_F(Releases, CommandTimeoutFromTheManifestKillsTheCommand) {
  auto r = haul({"deploy", publish("v1", "command_timeout: 300ms\ncommands:\n  pre: ['sleep 30']\n")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("command `sleep 30` timed out after 300ms and was killed"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dest / "current"));
}

TEST_F(Releases, NotEnoughSpaceIsRefusedBeforeTheDownload) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  const fs::path small = tmp / "small";
  fs::create_directories(small);
  ASSERT_EQ(run_process({"/bin/mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small.string()}).exit_code, 0);
  struct Unmount {
    fs::path p;
    ~Unmount() { run_process({"/bin/umount", p.string()}); }
  } unmount{small};
  std::string big(700'000, '\0');
  uint64_t x = 7;
  for (auto& c : big) c = static_cast<char>((x = x * 6364136223846793005ull + 1) >> 56);
  const std::string tar = make_tar({file_entry("big.bin", big)});
  write_file(tmp / "big.tgz", tar);
  write_file(tmp / "big.yml", "src: " + file_url(tmp / "big.tgz") + "\nchecksum: " + sha256_hex(tar) + "\ndest: " +
                                  (small / "app").string() + "\nsync_strategy: release\n");
  auto r = haul({"deploy", file_url(tmp / "big.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not enough space for release"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(small / "app/current"));
}
