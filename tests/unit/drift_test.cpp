// SPDX-License-Identifier: Apache-2.0
// The content record (drift/tree_record) and the drift check against real
// folders: what the extractor records is what `haul diff` compares.
#include "drift/drift_check.hpp"
#include "drift/tree_record.hpp"
#include "drift/tree_record_writer.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "config/exclude_rules.hpp"
#include "extract/extractor.hpp"
#include "test_support.hpp"
#include "util/content_hash.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

std::vector<std::string> paths_of(const TreeRecord& r) {
  std::vector<std::string> out;
  for (const auto& e : r.entries()) out.push_back(std::string(1, static_cast<char>(e.kind)) + " " + e.path);
  return out;
}

std::vector<std::string> paths_of(const std::vector<DriftItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.path + (i.what.empty() ? "" : " (" + i.what + ")"));
  return out;
}

const timespec kStamp{1700000000, 5};

}  // namespace

TEST(TreeRecord, WhatTheWriterStreamsReadsBackWithAwkwardNames) {
  TempDir tmp;
  const fs::path file = tmp / ".haul-app.tree";
  {
    TreeRecordWriter w(file);
    w.dir("a dir", 0750);
    w.file("a dir/tab\there\nnewline\\slash", 0640, 3, {-5, 7}, "00ff");
    w.symlink("link", "a dir/x y");
    w.hardlink("again", "a dir/tab\there\nnewline\\slash");
    TreeRecordMeta meta;
    meta.release = "v1";
    meta.manifest_url = "file:///m.yml";
    meta.rules = {"- *.pid", "+ keep\\this"};
    meta.linked = {"log"};
    w.finish(meta);
    EXPECT_FALSE(fs::exists(file));  // not before commit
    w.commit();
  }
  EXPECT_FALSE(fs::exists(file.string() + ".new"));
  const TreeRecord back = TreeRecord::load(file);
  EXPECT_EQ(back.release, "v1");
  EXPECT_EQ(back.manifest_url, "file:///m.yml");
  EXPECT_EQ(back.rules, (std::vector<std::string>{"- *.pid", "+ keep\\this"}));
  EXPECT_EQ(back.linked, (std::vector<std::string>{"log"}));
  ASSERT_EQ(back.entries().size(), 4u);
  const TreeEntry* f = back.find("a dir/tab\there\nnewline\\slash");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->mode, 0640u);
  EXPECT_EQ(f->size, 3u);
  EXPECT_EQ(f->mtime_sec, -5);
  EXPECT_EQ(f->mtime_nsec, 7);
  EXPECT_EQ(f->hash, "00ff");
  EXPECT_EQ(back.find("again")->hash, "00ff");
  EXPECT_EQ(back.find("a dir")->mode, 0750u);
  EXPECT_EQ(back.find("link")->target, "a dir/x y");
}

TEST(TreeRecord, AnUncommittedRecordLeavesNothingAndTheOldOneStands) {
  TempDir tmp;
  const fs::path file = tmp / ".haul-app.tree";
  write_file(file, "old");
  {
    TreeRecordWriter w(file);
    w.dir("x", 0755);
    w.finish({});
  }  // the deploy failed before its sync
  EXPECT_EQ(read_file(file), "old");
  EXPECT_FALSE(fs::exists(file.string() + ".new"));
}

TEST(TreeRecord, ADamagedRecordNamesTheFileAndLine) {
  try {
    TreeRecord::parse("haul-tree 1\n#\trelease\tx\nd\t0755\tok\nd\tbroken\n", "/srv/.haul-app.tree");
    FAIL() << "parsed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/srv/.haul-app.tree:4: a 'd' line with 2 fields"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TreeRecord::parse("something else\n", "x"), Error);
  EXPECT_THROW(TreeRecord::parse("haul-tree 1\nf\t0644\t1\tnot-a-time\th\tp\n", "x"), Error);
  // A kind a newer haul writes is skipped.
  EXPECT_EQ(TreeRecord::parse("haul-tree 1\nq\tnew\tkind\nd\t0755\tok\n", "x").entries().size(), 1u);
}

TEST(TreeRecord, FinishKeepsTheLastEntryAddsImplicitFoldersAndDropsWhatAReplacedFolderHeld) {
  TreeRecord r;
  r.add_file("x/old", 0644, 1, kStamp, "1");
  r.add_dir("x", 0755);
  r.add_file("x", 0600, 2, kStamp, "2");  // the folder x replaced by a file: x/old goes
  r.add_file("deep/er/f", 0644, 1, kStamp, "3");  // no folder entries: made implicitly
  r.add_file("twice", 0644, 1, kStamp, "first");
  r.add_file("twice", 0644, 1, kStamp, "second");
  r.add_hardlink("again", "twice");
  r.add_file("twice", 0644, 1, kStamp, "third");  // replaces the name, not the linked file
  r.finish();
  EXPECT_EQ(paths_of(r), (std::vector<std::string>{"f again", "d deep", "d deep/er", "f deep/er/f", "f twice", "f x"}));
  EXPECT_EQ(r.find("twice")->hash, "third");
  EXPECT_EQ(r.find("again")->hash, "second");  // what "twice" was when the link was made
  EXPECT_EQ(r.find("deep")->mode, TreeEntry::kAnyMode);
  EXPECT_EQ(r.find("x")->kind, TreeEntry::kFile);
}

TEST(TreeRecord, DropExcludedTakesAnExcludedFolderWithEverythingInIt) {
  TreeRecord r;
  r.add_dir("tmp", 0755);
  r.add_file("tmp/a", 0644, 1, kStamp, "1");
  r.add_dir("tmp/sub", 0755);
  r.add_file("tmp/sub/b", 0644, 1, kStamp, "1");
  r.add_file("app.pid", 0644, 1, kStamp, "1");
  r.add_file("app.rb", 0644, 1, kStamp, "1");
  r.finish();
  r.rules = {"- tmp/", "- *.pid"};
  r.drop_excluded(r.exclude_rules());
  EXPECT_EQ(paths_of(r), (std::vector<std::string>{"f app.rb"}));
}

TEST(ContentHash, SparseHolesHashAsTheZerosOnDisk) {
  const std::string data = std::string(100, '\0') + "tail" + std::string(50, '\0');
  ContentHash whole;
  whole.update(data.data(), data.size());
  ContentHash sparse;
  sparse.update_at("tail", 4, 100);
  EXPECT_EQ(sparse.digest(data.size()).view(), whole.digest(data.size()).view());
  TempDir tmp;
  write_file(tmp / "f", data);
  ContentHash again;
  again.update(data.data(), data.size());
  ContentHash reused;
  reused.update("left over from another file", 27);
  EXPECT_EQ(reused.digest_of_file(tmp / "f").view(), again.digest(data.size()).view());
  EXPECT_EQ(reused.digest_of_file(tmp / "f").view(), sparse.digest(data.size()).view());  // state starts over
}

struct DriftFixture : ::testing::Test {
  TempDir tmp;
  fs::path dest = tmp / "dest";
  TreeRecord record;

  void SetUp() override {
    fs::create_directories(dest);
    TreeRecordWriter writer(tmp / "record");
    ExtractOptions o;
    o.sinks = {&writer};
    extract_archive(chunks_of(make_tar({dir_entry("app"), file_entry("app/a.rb", "puts 1"),
                                        file_entry("app/b.rb", "puts 2", 0755), symlink_entry("current", "app"),
                                        dir_entry("log"), file_entry("log/keep", "x")}),
                              7),
                    dest, "file:///app.tgz", o);
    writer.finish({});
    writer.commit();
    record = TreeRecord::load(tmp / "record");
  }
  DriftReport check(bool quick = false) {
    DriftOptions o;
    o.quick = quick;
    return check_drift(dest, record, o);
  }
};

TEST_F(DriftFixture, AFreshExtractionHasNoDrift) {
  const DriftReport r = check();
  EXPECT_FALSE(r.drifted()) << ::testing::PrintToString(paths_of(r.modified));
  EXPECT_EQ(r.compared, 6u);
}

TEST_F(DriftFixture, ModifiedAddedAndDeletedAreEachNamed) {
  write_file(dest / "app/a.rb", "puts 9");  // same size, other bytes
  chmod((dest / "app/b.rb").c_str(), 0700);
  fs::remove(dest / "current");
  fs::create_symlink("log", dest / "current");
  write_file(dest / "app/new.rb", "x");
  write_file(dest / "extra/x/y", "y");
  fs::remove_all(dest / "log");
  const DriftReport r = check();
  EXPECT_TRUE(r.drifted());
  EXPECT_EQ(paths_of(r.modified), (std::vector<std::string>{"app/a.rb (content)", "app/b.rb (mode 0755 -> 0700)",
                                                            "current (symlink target app -> log)"}));
  EXPECT_EQ(paths_of(r.added), (std::vector<std::string>{"app/new.rb", "extra/ (and 2 entries in it)"}));
  EXPECT_EQ(paths_of(r.deleted), (std::vector<std::string>{"log/ (and 1 entry in it)"}));
}

TEST_F(DriftFixture, QuickTrustsSizeAndMtimeWhileTheDefaultReadsTheBytes) {
  struct stat before;
  ASSERT_EQ(stat((dest / "app/a.rb").c_str(), &before), 0);
  write_file(dest / "app/a.rb", "puts 3");
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, (dest / "app/a.rb").c_str(), times, 0), 0);
  EXPECT_FALSE(check(/*quick=*/true).drifted());
  EXPECT_EQ(paths_of(check().modified), (std::vector<std::string>{"app/a.rb (content)"}));
}

TEST_F(DriftFixture, ExcludedAndLinkedPathsAreNotDrift) {
  record.rules = {"- *.pid"};
  record.linked = {"log"};
  write_file(dest / "app/server.pid", "1");
  fs::remove_all(dest / "log");
  fs::create_symlink(tmp / "shared", dest / "log");
  EXPECT_FALSE(check().drifted());
}

TEST_F(DriftFixture, AFolderTurnedIntoAFileIsOneModification) {
  fs::remove_all(dest / "log");
  write_file(dest / "log", "now a file");
  const DriftReport r = check();
  EXPECT_EQ(paths_of(r.modified), (std::vector<std::string>{"log (type folder -> file)"}));
  EXPECT_TRUE(r.deleted.empty()) << ::testing::PrintToString(paths_of(r.deleted));
}
