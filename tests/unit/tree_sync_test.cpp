// SPDX-License-Identifier: Apache-2.0
#include "sync/tree_sync.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

void set_mtime(const fs::path& p, time_t t) {
  struct timespec ts[2] = {{t, 0}, {t, 0}};
  utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

struct SyncFixture : ::testing::Test {
  TempDir tmp;
  fs::path from = tmp / "staging", to = tmp / "dest";
  void SetUp() override {
    fs::create_directories(from);
    fs::create_directories(to);
  }
};

}  // namespace

TEST_F(SyncFixture, DeleteRemovesStaleFilesLikeRsyncDelete) {
  write_file(from / "index.html", "new");
  write_file(to / "test.pid", "123");
  write_file(to / "old/dir/file", "x");
  auto s = sync_tree(from, to, {});
  EXPECT_EQ(read_file(to / "index.html"), "new");
  EXPECT_FALSE(fs::exists(to / "test.pid"));
  EXPECT_FALSE(fs::exists(to / "old"));
  EXPECT_EQ(s.deleted, 4u);  // test.pid, old/dir/file, old/dir, old: counted per entry
}

TEST_F(SyncFixture, ExcludedFilesAreNeitherCopiedNorDeleted) {
  write_file(from / "app.rb", "code");
  write_file(from / "tmp/cache.pid", "from release");
  write_file(to / "test.pid", "running");
  write_file(to / "log/production.log", "keep me");
  ExcludeRules rules;
  rules.exclude("*.pid");
  rules.exclude("log/");
  auto s = sync_tree(from, to, rules);
  EXPECT_EQ(read_file(to / "test.pid"), "running");
  EXPECT_EQ(read_file(to / "log/production.log"), "keep me");
  EXPECT_FALSE(fs::exists(to / "tmp/cache.pid"));
  EXPECT_EQ(read_file(to / "app.rb"), "code");
  EXPECT_EQ(s.protected_by_exclude, 2u);
}

TEST_F(SyncFixture, DirectoryHoldingExcludedFileSurvivesDeletion) {
  write_file(to / "gone/keep.pid", "1");
  write_file(to / "gone/drop.txt", "2");
  ExcludeRules rules;
  rules.exclude("*.pid");
  sync_tree(from, to, rules);
  EXPECT_TRUE(fs::exists(to / "gone/keep.pid"));
  EXPECT_FALSE(fs::exists(to / "gone/drop.txt"));
}

TEST_F(SyncFixture, UnchangedFilesPassTheQuickCheckAndKeepTheirInode) {
  write_file(from / "same.txt", "abc");
  write_file(to / "same.txt", "abc");
  set_mtime(from / "same.txt", 1600000000);
  set_mtime(to / "same.txt", 1600000000);
  struct stat before;
  stat((to / "same.txt").c_str(), &before);
  write_file(from / "changed.txt", "new!");
  write_file(to / "changed.txt", "old");
  auto s = sync_tree(from, to, {});
  struct stat after;
  stat((to / "same.txt").c_str(), &after);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(s.unchanged, 1u);
  EXPECT_EQ(s.written, 1u);
  EXPECT_EQ(read_file(to / "changed.txt"), "new!");
}

TEST_F(SyncFixture, ModesMtimesAndSymlinksArePreserved) {
  write_file(from / "bin/run", "#!/bin/sh\n", 0750);
  set_mtime(from / "bin/run", 1500000000);
  fs::create_symlink("bin/run", from / "run-link");
  fs::permissions(from, static_cast<fs::perms>(0711));
  sync_tree(from, to, {});
  struct stat st;
  ASSERT_EQ(stat((to / "bin/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);
  EXPECT_TRUE(fs::is_symlink(to / "run-link"));
  EXPECT_EQ(fs::read_symlink(to / "run-link"), "bin/run");
  ASSERT_EQ(stat(to.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u) << "dest takes the staged root's mode (dest_mode)";
}

TEST_F(SyncFixture, TypeChangesReplaceTheOldEntry) {
  write_file(from / "a", "now a file");
  write_file(to / "a/inner", "was a dir");
  fs::create_directories(from / "b");
  write_file(to / "b", "was a file");
  sync_tree(from, to, {});
  EXPECT_EQ(read_file(to / "a"), "now a file");
  EXPECT_TRUE(fs::is_directory(to / "b"));
}

TEST_F(SyncFixture, MissingDestIsCreated) {
  write_file(from / "x", "1");
  fs::remove_all(to);
  sync_tree(from, to, {});
  EXPECT_EQ(read_file(to / "x"), "1");
}

TEST_F(SyncFixture, MoveRefusesAnExistingDest) {
  write_file(from / "x", "1");
  try {
    move_tree(from, to);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(from / "x"));
  fs::remove_all(to);
  move_tree(from, to);
  EXPECT_EQ(read_file(to / "x"), "1");
}
