// SPDX-License-Identifier: Apache-2.0
#include "extract/extractor.hpp"
#include "sync/tree_sync.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

// Small chunks, as a network source would deliver them.
ChunkReader reader_for(const std::string& bytes, size_t chunk = 7) { return chunks_of(bytes, chunk); }

std::string extract_error(const std::string& archive, const fs::path& dir) {
  try {
    extract_archive(reader_for(archive), dir, "file:///app.tgz");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct ExtractFixture : ::testing::Test {
  TempDir tmp;
  fs::path dir = tmp / "staging";
  void SetUp() override { fs::create_directories(dir); }
};

}  // namespace

TEST_F(ExtractFixture, EveryCompressionIsDetected) {
  for (std::string filter : {"gzip", "zstd", "xz", "none"}) {
    TempDir out;
    auto tar = make_tar({dir_entry("app"), file_entry("app/a.txt", "A" + filter, 0640)}, filter);
    auto stats = extract_archive(reader_for(tar, 3), out.path(), "x");
    EXPECT_EQ(read_file(out / "app/a.txt"), "A" + filter) << filter;
    EXPECT_EQ(stats.entries, 2u);
    struct stat st;
    stat((out / "app/a.txt").c_str(), &st);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
  }
}

TEST_F(ExtractFixture, DotSlashPrefixesAndTheRootEntryAreHandled) {
  auto tar = make_tar({dir_entry("./", 0700), file_entry("./index.html", "hi")});
  extract_archive(reader_for(tar), dir, "x");
  EXPECT_EQ(read_file(dir / "index.html"), "hi");
  struct stat st;
  stat(dir.c_str(), &st);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000) << "the ./ entry's mtime applies to the folder";
}

TEST_F(ExtractFixture, DotDotIsRefusedNamingTheEntry) {
  std::string e = extract_error(make_tar({file_entry("../evil", "x")}), dir);
  EXPECT_NE(e.find("'../evil'"), std::string::npos) << e;
  EXPECT_NE(e.find(".."), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(tmp / "evil"));
}

TEST_F(ExtractFixture, AbsolutePathIsRefused) {
  std::string e = extract_error(make_tar({file_entry("/tmp/haul-absolute-evil", "x")}), dir);
  EXPECT_NE(e.find("absolute path"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists("/tmp/haul-absolute-evil"));
}

TEST_F(ExtractFixture, WritingThroughASymlinkFromTheSameArchiveIsRefused) {
  auto tar = make_tar({dir_entry("real"), symlink_entry("link", "real"), file_entry("link/pwned", "x")});
  std::string e = extract_error(tar, dir);
  EXPECT_NE(e.find("link/pwned"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir / "real/pwned"));
}

TEST_F(ExtractFixture, LinksPointingOutsideTheReleaseAreRefused) {
  for (const std::string target : {"/etc/passwd", "../../etc", "a/../../../x"}) {
    TempDir out;
    std::string e = extract_error(make_tar({symlink_entry("lib/link", target)}), out.path());
    EXPECT_NE(e.find("'lib/link' is a symlink to '" + target + "', outside the release"), std::string::npos) << e;
  }
  TempDir ok;
  EXPECT_EQ(extract_error(make_tar({dir_entry("lib"), file_entry("lib/a", "x"), symlink_entry("lib/b", "a"),
                                    symlink_entry("top", "lib/../lib/a")}), ok.path()), "");
  EXPECT_TRUE(fs::is_symlink(ok / "top"));
  Entry hard;
  hard.type = Entry::hardlink;
  hard.name = "h";
  hard.content = "../outside";
  TempDir h;
  std::string he = extract_error(make_tar({hard}), h.path());
  EXPECT_NE(he.find("'..'"), std::string::npos) << he;
}

TEST_F(ExtractFixture, SetuidBitsAreDroppedUnlessAllowed) {
  auto tar = make_tar({file_entry("bin/tool", "x", 06755)});
  ExtractStats s = extract_archive(reader_for(tar), dir, "x");
  struct stat st;
  stat((dir / "bin/tool").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(s.dropped_setuid, 1u);
  TempDir other;
  ExtractOptions allow;
  allow.limits.allow_setuid = true;
  extract_archive(reader_for(tar), other.path(), "x", allow);
  stat((other / "bin/tool").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 06755u);
}

TEST_F(ExtractFixture, LimitsStopBombs) {
  ExtractOptions o;
  o.limits.max_entries = 3;
  std::vector<Entry> many;
  for (int i = 0; i < 5; ++i) many.push_back(file_entry("f" + std::to_string(i), "x"));
  try {
    extract_archive(reader_for(make_tar(many)), dir, "x", o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 3 entries"), std::string::npos) << e.what();
  }
  TempDir d2;
  o = {};
  o.limits.max_bytes = 1000;
  try {
    extract_archive(reader_for(make_tar({file_entry("big", std::string(5000, 'x'))})), d2.path(), "x", o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("would take the release past"), std::string::npos) << e.what();
  }
  TempDir d3;
  o = {};
  o.limits.max_ratio = 100;
  std::string zeros(100 << 20, '\0');  // compresses about 1000:1
  try {
    extract_archive(reader_for(make_tar({file_entry("zeros", zeros)}), 1 << 16), d3.path(), "x", o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decompression bomb"), std::string::npos) << e.what();
  }
}

TEST_F(ExtractFixture, SpecialFilesAreRefused) {
  Entry fifo;
  fifo.type = Entry::fifo;
  fifo.name = "pipe";
  std::string e = extract_error(make_tar({fifo}), dir);
  EXPECT_NE(e.find("'pipe'"), std::string::npos) << e;
}

TEST_F(ExtractFixture, TruncatedArchiveFails) {
  std::string big(200000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) % 251);
  auto tar = make_tar({file_entry("big.bin", big)}, "none");
  std::string e = extract_error(tar.substr(0, tar.size() / 2), dir);
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST_F(ExtractFixture, NotAnArchiveFails) {
  std::string e = extract_error("this is a plain text file, not a tarball\n", dir);
  EXPECT_NE(e.find("not a tar archive"), std::string::npos) << e;
}

TEST_F(ExtractFixture, StreamErrorsSurfaceAsTheirOwnMessage) {
  int calls = 0;
  ChunkReader failing = [&]() -> std::pair<const void*, size_t> {
    if (++calls > 1) throw Error("fetch http://x/app.tgz failed: connection reset");
    static const std::string head = make_tar({file_entry("a", std::string(100000, 'a'))}, "none").substr(0, 1024);
    return {head.data(), head.size()};
  };
  try {
    extract_archive(failing, dir, "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("connection reset"), std::string::npos) << e.what();
  }
}

TEST_F(ExtractFixture, SymlinkChainsAndLinkedSymlinksCannotBeWrittenThrough) {
  // Each target is inside on its own; composed, b points at root's parent.
  auto chain = make_tar({symlink_entry("a", "."), symlink_entry("b", "a/.."), file_entry("b/escaped", "x")});
  std::string e = extract_error(chain, dir);
  EXPECT_NE(e.find("'b/escaped' goes through the symlink 'b'"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.parent_path() / "escaped"));
}

TEST_F(ExtractFixture, ADirectoryEntryDoesNotUnblockASymlink) {
  auto tar = make_tar({dir_entry("real"), symlink_entry("link", "real"), dir_entry("link"), file_entry("link/f", "x")});
  std::string e = extract_error(tar, dir);
  EXPECT_NE(e.find("'link/f' goes through the symlink 'link'"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir / "real/f"));
}

TEST_F(ExtractFixture, RefusesAFolderThatIsNotEmpty) {
  write_file(dir / "left-over", "x");
  std::string e = extract_error(make_tar({file_entry("a", "x")}), dir);
  EXPECT_NE(e.find("must be empty"), std::string::npos) << e;
}

// The rsync strategy's delta extraction: what dest holds unchanged is listed,
// not written; the sync then applies attributes, moves the rest and deletes.
TEST_F(ExtractFixture, UnchangedFilesInDestAreKeptNotWrittenAndTheSyncFinishesTheJob) {
  const fs::path dest = tmp / "dest";
  fs::create_directories(tmp / "first");
  Entry same = file_entry("app/same.rb", "same content");
  Entry changed = file_entry("app/changed.rb", "old");
  extract_archive(reader_for(make_tar({dir_entry("app"), same, changed, file_entry("gone.txt", "bye")})), tmp / "first",
                  "v1");
  fs::rename(tmp / "first", dest);

  Entry same_new_mode = same;
  same_new_mode.mode = 0600;  // same size and mtime: kept, but its mode changes
  Entry changed_new = file_entry("app/changed.rb", "new content");
  Entry hard{Entry::hardlink, "app/alias.rb", "app/same.rb"};
  KeptFiles kept;
  ExtractOptions o;
  o.quick_check_dest = dest;
  o.kept = &kept;
  auto stats = extract_archive(reader_for(make_tar({dir_entry("app"), same_new_mode, changed_new, hard})), dir, "v2", o);
  EXPECT_EQ(stats.kept_files, 1u);
  EXPECT_TRUE(kept.contains("app/same.rb"));
  EXPECT_TRUE(kept.contains("app")) << "an unchanged folder is not created either";
  EXPECT_FALSE(fs::exists(dir / "app/same.rb")) << "not written";
  EXPECT_EQ(read_file(dir / "app/changed.rb"), "new content");
  EXPECT_TRUE(fs::exists(dir / "app/alias.rb")) << "a hard link to a kept file links dest's file";

  ExcludeRules none;
  auto s = sync_tree(dir, dest, none, nullptr, &kept);
  EXPECT_EQ(read_file(dest / "app/same.rb"), "same content");
  EXPECT_EQ(read_file(dest / "app/changed.rb"), "new content");
  EXPECT_EQ(read_file(dest / "app/alias.rb"), "same content");
  EXPECT_FALSE(fs::exists(dest / "gone.txt"));
  EXPECT_EQ(fs::status(dest / "app/same.rb").permissions() & fs::perms::mask, fs::perms(0600));
  EXPECT_EQ(s.unchanged, 1u);
  EXPECT_EQ(s.deleted, 1u);
}

// The extractor writes entries itself (disk_writer): what tar x gives must
// come out — modes past the umask, folder modes and times applied after their
// contents, later entries replacing earlier ones, parents the archive omits.
TEST_F(ExtractFixture, ModesAndTimesComeOutAsTheArchiveSays) {
  const mode_t old_umask = umask(022);
  Entry open_file = file_entry("app/open.txt", "rw for all", 0666);  // umask alone would give 0644
  Entry sealed = dir_entry("sealed", 0555);
  sealed.mtime = 1600000000;
  Entry inside = file_entry("sealed/inside.txt", "written before the folder was sealed", 0400);
  inside.mtime = 1500000000;
  Entry link = symlink_entry("app/link", "open.txt");
  link.mtime = 1400000000;
  extract_archive(reader_for(make_tar({open_file, sealed, inside, link})), dir, "v1");
  umask(old_umask);
  auto mode_of = [](const fs::path& p) {
    struct stat st {};
    lstat(p.c_str(), &st);
    return st.st_mode & 07777;
  };
  auto mtime_of = [](const fs::path& p) {
    struct stat st {};
    lstat(p.c_str(), &st);
    return st.st_mtim.tv_sec;
  };
  EXPECT_EQ(mode_of(dir / "app/open.txt"), 0666u);
  EXPECT_EQ(mode_of(dir / "sealed"), 0555u);
  EXPECT_EQ(mode_of(dir / "sealed/inside.txt"), 0400u);
  EXPECT_EQ(read_file(dir / "sealed/inside.txt"), "written before the folder was sealed");
  EXPECT_EQ(mtime_of(dir / "sealed"), 1600000000) << "set after the file inside was written";
  EXPECT_EQ(mtime_of(dir / "sealed/inside.txt"), 1500000000);
  EXPECT_EQ(mtime_of(dir / "app/link"), 1400000000) << "the symlink's own time, not its target's";
  EXPECT_EQ(mode_of(dir / "app"), 0755u) << "a parent the archive omits is made as tar makes it";
}

TEST_F(ExtractFixture, LaterEntriesReplaceEarlierOnesAndHardLinksShareTheInode) {
  extract_archive(reader_for(make_tar({file_entry("twice.txt", "first"), file_entry("twice.txt", "second"),
                                       dir_entry("was-dir"), file_entry("was-dir", "now a file"),
                                       file_entry("was-file", "soon a folder"), dir_entry("was-file"),
                                       file_entry("was-file/x", "x"), file_entry("orig", "shared"),
                                       Entry{Entry::hardlink, "deep/er/alias", "orig"}})),
                  dir, "v1");
  EXPECT_EQ(read_file(dir / "twice.txt"), "second");
  EXPECT_EQ(read_file(dir / "was-dir"), "now a file");
  EXPECT_EQ(read_file(dir / "was-file/x"), "x");
  struct stat a {}, b {};
  ASSERT_EQ(stat((dir / "orig").c_str(), &a), 0);
  ASSERT_EQ(stat((dir / "deep/er/alias").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
}

TEST_F(ExtractFixture, HardLinkToAnEntryNotYetMadeIsAnErrorNamingBoth) {
  std::string e = extract_error(make_tar({Entry{Entry::hardlink, "alias", "missing"}}), dir);
  EXPECT_NE(e.find("archive entry 'alias': hard link to 'missing', which no earlier entry made"), std::string::npos)
      << e;
}

// The quick check never looks through a symlink in dest: a folder dest has
// as a symlink is not "unchanged" even when the file behind it matches.
TEST_F(ExtractFixture, QuickCheckDoesNotFollowSymlinkedFoldersInDest) {
  const fs::path dest = tmp / "dest";
  Entry f = file_entry("lib/x.txt", "same");
  fs::create_directories(tmp / "elsewhere");
  fs::create_directories(dest);
  extract_archive(reader_for(make_tar({f})), tmp / "elsewhere", "v0");
  fs::create_directory_symlink(tmp / "elsewhere/lib", dest / "lib");
  KeptFiles kept;
  ExtractOptions o;
  o.quick_check_dest = dest;
  o.kept = &kept;
  auto stats = extract_archive(reader_for(make_tar({f})), dir, "v1", o);
  EXPECT_EQ(stats.kept_files, 0u);
  EXPECT_EQ(read_file(dir / "lib/x.txt"), "same");
}

// A kept folder whose contents change gets the release's mtime back; kept
// and deleted-candidate paths under an excluded folder are left alone.
TEST_F(ExtractFixture, KeptFoldersKeepTheirMtimeAndExcludedPathsAreProtected) {
  const fs::path dest = tmp / "dest";
  fs::create_directories(tmp / "first");
  Entry app = dir_entry("app");
  app.mtime = 1600000000;
  Entry logs = dir_entry("logs");
  extract_archive(reader_for(make_tar({app, file_entry("app/old.rb", "old"), file_entry("app/same.rb", "same"), logs,
                                       file_entry("logs/today.log", "entries")})),
                  tmp / "first", "v1");
  fs::rename(tmp / "first", dest);
  write_file(dest / "logs/local-only.log", "written by the app");

  KeptFiles kept;
  ExtractOptions o;
  o.quick_check_dest = dest;
  o.kept = &kept;
  extract_archive(reader_for(make_tar({app, file_entry("app/same.rb", "same"), logs,
                                       file_entry("logs/today.log", "entries")})),
                  dir, "v2", o);
  EXPECT_TRUE(kept.contains("app"));
  ExcludeRules rules;
  rules.exclude("logs/");
  auto s = sync_tree(dir, dest, rules, nullptr, &kept);
  EXPECT_FALSE(fs::exists(dest / "app/old.rb"));
  struct stat st {};
  ASSERT_EQ(lstat((dest / "app").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000) << "deleting app/old.rb changed it; the sync sets it back";
  EXPECT_EQ(read_file(dest / "logs/local-only.log"), "written by the app");
  EXPECT_EQ(s.deleted, 1u);
  EXPECT_EQ(s.protected_by_exclude, 1u);
}

// rsync's quick check (size and mtime second) is not enough: two builds in
// one second, or a pinned --mtime, give same-size files with other bytes.
// The content decides, whichever block of the file differs.
TEST_F(ExtractFixture, SameSizeAndMtimeButOtherBytesIsWrittenNotKept) {
  const fs::path dest = tmp / "dest";
  fs::create_directories(tmp / "first");
  const std::string big(300000, 'a');  // spans many blocks of the stream
  std::string big_tail_changed = big, big_head_changed = big;
  big_tail_changed.back() = 'b';
  big_head_changed.front() = 'b';
  extract_archive(reader_for(make_tar({file_entry("version", "AAAA"), file_entry("same", "same"),
                                       file_entry("tail", big), file_entry("head", big), file_entry("empty", "")})),
                  tmp / "first", "v1");
  fs::rename(tmp / "first", dest);

  KeptFiles kept;
  ExtractOptions o;
  o.quick_check_dest = dest;
  o.kept = &kept;
  auto stats = extract_archive(
      reader_for(make_tar({file_entry("version", "BBBB"), file_entry("same", "same"), file_entry("tail", big_tail_changed),
                           file_entry("head", big_head_changed), file_entry("empty", "")}),
                 4096),
      dir, "v2", o);
  EXPECT_EQ(stats.kept_files, 2u) << "same and empty";
  EXPECT_EQ(stats.rewritten_same_stamp, 3u);
  EXPECT_TRUE(kept.contains("same"));
  EXPECT_FALSE(kept.contains("version"));
  EXPECT_EQ(read_file(dir / "version"), "BBBB");
  EXPECT_EQ(read_file(dir / "tail"), big_tail_changed) << "the matched prefix is copied from dest, then the rest";
  EXPECT_EQ(read_file(dir / "head"), big_head_changed);
  ExcludeRules none;
  sync_tree(dir, dest, none, nullptr, &kept);
  EXPECT_EQ(read_file(dest / "version"), "BBBB");
  EXPECT_EQ(read_file(dest / "tail"), big_tail_changed);
  EXPECT_EQ(read_file(dest / "same"), "same");
}
