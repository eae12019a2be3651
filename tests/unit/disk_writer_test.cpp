// SPDX-License-Identifier: Apache-2.0
// DiskWriter on a real folder: what it writes has the entry's bytes, mode
// and times; folders get theirs once nothing more lands in them; a later
// entry replaces an earlier one whatever their types.
#include "extract/disk_writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

EntryAttrs attrs(mode_t perm, time_t mtime) {
  EntryAttrs a;
  a.perm = perm;
  a.uid = getuid();
  a.gid = getgid();
  a.mtime = a.atime = {mtime, 0};
  return a;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
  return st;
}

void write_file_entry(DiskWriter& w, const std::string& rel, const std::string& content, const EntryAttrs& a) {
  w.open_file(rel, a);
  w.write(content.data(), content.size(), 0);
  w.close_file(content.size());
}

}  // namespace

TEST(DiskWriter, FilesAndFoldersGetTheirBytesModesAndTimes) {
  TempDir tmp;
  DiskWriter w(tmp.path(), "test.tgz");
  w.make_dir("app", attrs(0750, 1000));
  write_file_entry(w, "app/run", "#!/bin/sh\n", attrs(0755, 2000));
  write_file_entry(w, "app/deep/er/file", "x", attrs(0600, 3000));  // parents made implicitly
  w.make_symlink("app/link", "run", attrs(0777, 4000));
  w.make_hardlink("app/again", "app/run");
  w.finish();
  EXPECT_EQ(read_file(tmp / "app/run"), "#!/bin/sh\n");
  EXPECT_EQ(stat_of(tmp / "app/run").st_mode & 07777, 0755u);
  EXPECT_EQ(stat_of(tmp / "app/run").st_mtim.tv_sec, 2000);
  EXPECT_EQ(stat_of(tmp / "app/deep/er/file").st_mode & 07777, 0600u);
  EXPECT_EQ(fs::read_symlink(tmp / "app/link"), "run");
  EXPECT_EQ(stat_of(tmp / "app/again").st_ino, stat_of(tmp / "app/run").st_ino);
  // The folder's own mtime survives everything written into it after.
  EXPECT_EQ(stat_of(tmp / "app").st_mtim.tv_sec, 1000);
  EXPECT_EQ(stat_of(tmp / "app").st_mode & 07777, 0750u);
}

TEST(DiskWriter, SparseWritesLeaveHolesOfZeros) {
  TempDir tmp;
  DiskWriter w(tmp.path(), "test.tgz");
  w.open_file("sparse", attrs(0644, 1000));
  w.write("end", 3, 1 << 20);
  w.close_file((1 << 20) + 3);
  w.finish();
  const std::string data = read_file(tmp / "sparse");
  ASSERT_EQ(data.size(), (1u << 20) + 3);
  EXPECT_EQ(data.substr(0, 4), std::string(4, '\0'));
  EXPECT_EQ(data.substr(1 << 20), "end");
}

TEST(DiskWriter, ALaterEntryReplacesAnEarlierOneOfAnotherType) {
  TempDir tmp;
  DiskWriter w(tmp.path(), "test.tgz");
  w.make_dir("x", attrs(0755, 1000));
  write_file_entry(w, "x", "now a file", attrs(0644, 1000));
  write_file_entry(w, "y", "a file", attrs(0644, 1000));
  w.make_dir("y", attrs(0700, 1000));
  w.finish();
  EXPECT_EQ(read_file(tmp / "x"), "now a file");
  EXPECT_TRUE(fs::is_directory(tmp / "y"));
  EXPECT_EQ(stat_of(tmp / "y").st_mode & 07777, 0700u);
}

TEST(DiskWriter, AFolderWithEntriesIsNotReplacedByAFile) {
  TempDir tmp;
  DiskWriter w(tmp.path(), "test.tgz");
  w.make_dir("x", attrs(0755, 1000));
  write_file_entry(w, "x/inside", "a", attrs(0644, 1000));
  try {
    write_file_entry(w, "x", "now a file", attrs(0644, 1000));
    FAIL() << "replaced";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test.tgz: archive entry 'x': cannot replace"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(tmp / "x/inside"), "a");
}

TEST(DiskWriter, LinkFromOutsideSharesTheInodeOrSaysItCannot) {
  TempDir tmp;
  fs::create_directories(tmp / "out");
  write_file(tmp / "previous", "unchanged");
  DiskWriter w(tmp / "out", "test.tgz");
  EXPECT_TRUE(w.link_from(tmp / "previous", "kept"));
  EXPECT_FALSE(w.link_from(tmp / "gone", "missing"));
  w.finish();
  EXPECT_EQ(stat_of(tmp / "out/kept").st_ino, stat_of(tmp / "previous").st_ino);
  EXPECT_FALSE(fs::exists(tmp / "out/missing"));
}
