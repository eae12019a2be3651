// SPDX-License-Identifier: Apache-2.0
// `haul diff` through the real binary: every deploy strategy leaves a content
// record, the diff names what changed since and exits 1 for monitoring, a
// failed deploy never leaves a record that lies, and what the operator owns
// (excluded paths, linked shared folders) is never drift.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "deploy_fixture.hpp"

using namespace haul::test;

namespace {

class Drift : public DeployFixture {
 protected:
  fs::path record = dest.parent_path() / ".haul-app.tree";

  // Same size and mtime, other bytes: what rsync's quick check would miss.
  void rewrite_keeping_stamp(const fs::path& file, const std::string& content) {
    struct stat st;
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    ASSERT_EQ(content.size(), static_cast<size_t>(st.st_size));
    write_file(file, content);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  }
};

const std::vector<Entry> kV1 = {dir_entry("app"), file_entry("app/a.rb", "puts 1"), file_entry("app/b.rb", "puts 2"),
                                dir_entry("public"), file_entry("public/index.html", "<h1>v1</h1>")};

}  // namespace

TEST_F(Drift, AnRsyncDestMatchesUntilSomeoneEditsIt) {
  ASSERT_EQ(haul({"deploy", publish("v1", kV1, "excludes: ['*.pid', 'tmp/']\n")}).exit_code, 0);
  ASSERT_TRUE(fs::exists(record));
  auto r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("is as the deploy of file://"), std::string::npos) << r.out;

  rewrite_keeping_stamp(dest / "app/a.rb", "puts 9");
  write_file(dest / "app/debug.rb", "binding.pry");
  fs::remove(dest / "public/index.html");
  write_file(dest / "server.pid", "42");   // excluded: the operator's
  write_file(dest / "tmp/cache/x", "x");   // excluded folder
  r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("modified  app/a.rb  (content)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("added     app/debug.rb"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("deleted   public/index.html"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 modified, 1 added, 1 deleted"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("pid"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("tmp/cache"), std::string::npos) << r.out;
  // --quick trusts size and mtime, as rsync does: the edit goes unseen.
  r = haul({"diff", dest.string(), "--quick", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("\"drifted\": true"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("a.rb"), std::string::npos) << r.out;

  // A redeploy puts dest back — files it kept unchanged are recorded too.
  ASSERT_EQ(haul({"deploy", publish("v1", kV1, "excludes: ['*.pid', 'tmp/']\n")}).exit_code, 0);
  r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(read_file(dest / "server.pid"), "42");
}

// Found by haul diff: a hard-linked pair whose mode was changed in dest kept
// the wrong mode through a redeploy (the sync applied the staged link's
// stale stat after the kept file's fix).
TEST_F(Drift, ARedeployRestoresHardLinkedFilesAndDiffSaysSo) {
  Entry link{Entry::hardlink, "app/same.rb", "app/a.rb"};
  std::vector<Entry> entries = kV1;
  entries.push_back(link);
  const std::string url = publish("v1", entries);
  ASSERT_EQ(haul({"deploy", url}).exit_code, 0);
  ASSERT_EQ(haul({"diff", dest.string()}).exit_code, 0);
  chmod((dest / "app/a.rb").c_str(), 0);
  auto r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("modified  app/same.rb  (mode 0644 -> 0000)"), std::string::npos) << r.out;
  ASSERT_EQ(haul({"deploy", url}).exit_code, 0);
  r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  struct stat st;
  ASSERT_EQ(stat((dest / "app/same.rb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST_F(Drift, AFailedDeployLeavesTheRecordOfWhatDestRuns) {
  ASSERT_EQ(haul({"deploy", publish("v1", kV1)}).exit_code, 0);
  const std::string before = read_file(record);
  // A checksum that does not match: nothing changes, the record included.
  const std::string bad = publish("v2", {file_entry("other", "x")});
  write_file(tmp / "v2.tgz", make_tar({file_entry("other", "tampered")}));
  EXPECT_EQ(haul({"deploy", bad}).exit_code, 1);
  EXPECT_EQ(read_file(record), before);
  EXPECT_FALSE(fs::exists(record.string() + ".new"));
  // A failing pre command: the same.
  EXPECT_EQ(haul({"deploy", publish("v3", {file_entry("other", "x")}, "commands:\n  pre: ['false']\n")}).exit_code, 1);
  EXPECT_EQ(read_file(record), before);
  EXPECT_FALSE(fs::exists(record.string() + ".new"));
  EXPECT_EQ(haul({"diff", dest.string()}).exit_code, 0);
}

TEST_F(Drift, AMvDestIsRecordedToo) {
  ASSERT_EQ(haul({"deploy", publish("v1", kV1, "sync_strategy: mv\n")}).exit_code, 0);
  EXPECT_EQ(haul({"diff", dest.string()}).exit_code, 0);
  chmod((dest / "app/b.rb").c_str(), 0600);
  auto r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("modified  app/b.rb  (mode 0644 -> 0600)"), std::string::npos) << r.out;
}

TEST_F(Drift, AReleaseDestIsComparedWithTheReleaseCurrentPointsAt) {
  const std::string extra = "sync_strategy: release\nlinked_dirs: [log]\n";
  ASSERT_EQ(haul({"deploy", publish("v1", kV1, extra + "release: v1\n")}).exit_code, 0);
  std::vector<Entry> v2 = kV1;
  v2.push_back(file_entry("app/c.rb", "puts 3"));
  ASSERT_EQ(haul({"deploy", publish("v2", v2, extra + "release: v2\n")}).exit_code, 0);
  write_file(dest / "current/log/production.log", "written by the app");  // shared: not drift
  auto r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("is as release v2"), std::string::npos) << r.out;
  write_file(dest / "current/app/c.rb", "hotfix");
  r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("modified  app/c.rb"), std::string::npos) << r.out;
  // After a rollback, v1 is what dest claims to run.
  ASSERT_EQ(haul({"rollback", dest.string()}).exit_code, 0);
  r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("is as release v1"), std::string::npos) << r.out;
}

TEST_F(Drift, WithoutARecordDiffSaysWhyAndExits2) {
  write_file(dest / "index.html", "hand-made");
  auto r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("has no content record (" + record.string() + ")"), std::string::npos) << r.err;
  r = haul({"diff", (tmp / "nosuch").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  write_file(record, "haul-tree 1\n\nd\tbroken\n");
  r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(record.string() + ":3:"), std::string::npos) << r.err;
}
