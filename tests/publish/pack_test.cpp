// SPDX-License-Identifier: Apache-2.0
// haul pack's tarballs: the same tree gives the same bytes, excludes and
// .haulignore hold, mtimes can be set or clamped, git sources carry REVISION.
// haul pack --chunked: the same entries as an index, chunks stored once.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include <map>

#include <zstd.h>

#include "delta/release_index.hpp"
#include "publish/chunked_pack.hpp"
#include "publish/git_export.hpp"
#include "publish/packer.hpp"
#include "test_support.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

using namespace haul;
using namespace haul::test;

namespace {

struct Listed {
  std::string type;  // "file", "dir", "link", "hardlink"
  std::string content;  // file contents, link target
  int64_t mtime = 0;
  int64_t uid = -1, gid = -1;
  unsigned perm = 0;
};

// Reads a tarball back with libarchive: path → what it holds, in order.
std::vector<std::pair<std::string, Listed>> list_tar(const fs::path& path) {
  std::vector<std::pair<std::string, Listed>> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  if (archive_read_open_filename(a, path.c_str(), 65536) != ARCHIVE_OK) {
    archive_read_free(a);
    throw std::runtime_error("cannot open " + path.string());
  }
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Listed l;
    l.mtime = archive_entry_mtime(e);
    l.uid = archive_entry_uid(e);
    l.gid = archive_entry_gid(e);
    l.perm = archive_entry_perm(e);
    if (archive_entry_hardlink(e)) {
      l.type = "hardlink";
      l.content = archive_entry_hardlink(e);
    } else if (archive_entry_filetype(e) == AE_IFDIR) {
      l.type = "dir";
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      l.type = "link";
      l.content = archive_entry_symlink(e);
    } else {
      l.type = "file";
      char buf[4096];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) l.content.append(buf, static_cast<size_t>(n));
    }
    out.emplace_back(archive_entry_pathname(e), l);
  }
  archive_read_free(a);
  return out;
}

std::vector<std::string> names(const fs::path& tar) {
  std::vector<std::string> n;
  for (const auto& [name, _] : list_tar(tar)) n.push_back(name);
  return n;
}

void set_mtime(const fs::path& p, int64_t t) {
  struct timespec ts[2] = {{static_cast<time_t>(t), 0}, {static_cast<time_t>(t), 0}};
  utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

void make_tree(const fs::path& root) {
  fs::create_directories(root / "app/models");
  fs::create_directories(root / "log");
  write_file(root / "app/models/user.rb", "class User; end\n");
  write_file(root / "bin/run", "#!/bin/sh\necho run\n", 0755);
  write_file(root / "log/dev.log", "noise\n");
  write_file(root / "README", std::string(100000, 'r'));
  fs::create_symlink("README", root / "README.link");
}

PackResult pack_to(const fs::path& src, const fs::path& out, PackOptions o = {}) {
  o.source = src;
  o.output = out;
  return pack_tree(o);
}

}  // namespace

TEST(Pack, SameTreeTwiceGivesTheSameBytes) {
  TempDir tmp;
  make_tree(tmp / "src");
  auto a = pack_to(tmp / "src", tmp / "a.tar.gz");
  // A second pack a moment later: the gzip header carries no timestamp.
  auto b = pack_to(tmp / "src", tmp / "b.tar.gz");
  EXPECT_EQ(a.sha256, b.sha256);
  EXPECT_EQ(sha256_file(tmp / "a.tar.gz"), a.sha256);
  EXPECT_EQ(a.files, 4u);
  EXPECT_EQ(a.symlinks, 1u);
}

TEST(Pack, EntriesAreSortedAndOwnedByRootWithoutNames) {
  TempDir tmp;
  make_tree(tmp / "src");
  pack_to(tmp / "src", tmp / "a.tar");
  std::vector<std::string> expected = {"README", "README.link", "app", "app/models", "app/models/user.rb",
                                       "bin", "bin/run", "log", "log/dev.log"};
  auto got = names(tmp / "a.tar");
  for (auto& n : got)
    if (!n.empty() && n.back() == '/') n.pop_back();
  EXPECT_EQ(got, expected);
  for (const auto& [name, l] : list_tar(tmp / "a.tar")) {
    EXPECT_EQ(l.uid, 0) << name;
    EXPECT_EQ(l.gid, 0) << name;
  }
  auto listed = list_tar(tmp / "a.tar");
  auto run = std::find_if(listed.begin(), listed.end(), [](auto& e) { return e.first == "bin/run"; });
  ASSERT_NE(run, listed.end());
  EXPECT_EQ(run->second.perm, 0755u) << "modes are kept";
}

TEST(Pack, DifferentMtimesPackIdenticallyWithMtime) {
  TempDir tmp;
  make_tree(tmp / "one");
  make_tree(tmp / "two");
  set_mtime(tmp / "one/README", 1600000000);
  set_mtime(tmp / "two/README", 1700000000);
  EXPECT_NE(pack_to(tmp / "one", tmp / "1.tgz").sha256, pack_to(tmp / "two", tmp / "2.tgz").sha256)
      << "mtimes are kept by default";
  PackOptions o;
  o.mtime = parse_timestamp("2026-01-01T00:00:00Z");
  EXPECT_EQ(pack_to(tmp / "one", tmp / "3.tgz", o).sha256, pack_to(tmp / "two", tmp / "4.tgz", o).sha256);
  for (const auto& [name, l] : list_tar(tmp / "3.tgz")) EXPECT_EQ(l.mtime, 1767225600) << name;
}

TEST(Pack, ClampMtimeLowersOnlyNewerFiles) {
  TempDir tmp;
  make_tree(tmp / "src");
  set_mtime(tmp / "src/README", 1000);
  PackOptions o;
  o.mtime = 2000;
  o.clamp_mtime = true;
  pack_to(tmp / "src", tmp / "a.tar", o);
  for (const auto& [name, l] : list_tar(tmp / "a.tar")) EXPECT_EQ(l.mtime, name == "README" ? 1000 : 2000) << name;
}

TEST(Pack, ExcludesHaulignoreAndGitAreLeftOut) {
  TempDir tmp;
  make_tree(tmp / "src");
  write_file(tmp / "src/.git/HEAD", "ref: refs/heads/main\n");
  write_file(tmp / "src/.haulignore", "# build output\n/log/\n*.tmp\n");
  write_file(tmp / "src/app/cache.tmp", "x");
  PackOptions o;
  o.excludes = {"README.link"};
  pack_to(tmp / "src", tmp / "a.tar", o);
  auto got = names(tmp / "a.tar");
  for (const char* gone : {"log", "log/", "log/dev.log", "app/cache.tmp", ".git", ".git/", ".git/HEAD", ".haulignore", "README.link"})
    EXPECT_EQ(std::count(got.begin(), got.end(), gone), 0) << gone << " was packed";
  EXPECT_EQ(std::count(got.begin(), got.end(), "app/models/user.rb"), 1);
}

TEST(Pack, IncludeRuleInHaulignoreKeepsGit) {
  TempDir tmp;
  make_tree(tmp / "src");
  write_file(tmp / "src/.git/HEAD", "x\n");
  write_file(tmp / "src/.haulignore", "+ .git/\n");
  pack_to(tmp / "src", tmp / "a.tar");
  auto got = names(tmp / "a.tar");
  EXPECT_EQ(std::count(got.begin(), got.end(), ".git/HEAD"), 1);
}

TEST(Pack, OutputInsideTheTreeIsNotPackedIntoItself) {
  TempDir tmp;
  make_tree(tmp / "src");
  pack_to(tmp / "src", tmp / "src/release.tar");
  auto first = pack_to(tmp / "src", tmp / "src/release.tar");
  auto got = names(tmp / "src/release.tar");
  EXPECT_EQ(std::count(got.begin(), got.end(), "release.tar"), 0);
  EXPECT_EQ(first.sha256, pack_to(tmp / "src", tmp / "src/release.tar").sha256);
}

TEST(Pack, HardLinksStayHardLinks) {
  TempDir tmp;
  make_tree(tmp / "src");
  fs::create_hard_link(tmp / "src/README", tmp / "src/app/README.copy");
  auto r = pack_to(tmp / "src", tmp / "a.tar");
  EXPECT_EQ(r.hardlinks, 1u);
  auto listed = list_tar(tmp / "a.tar");
  auto copy = std::find_if(listed.begin(), listed.end(), [](auto& e) { return e.first == "app/README.copy"; });
  ASSERT_NE(copy, listed.end());
  // "README" sorts before "app/README.copy", so README holds the bytes.
  EXPECT_EQ(copy->second.type, "hardlink");
  EXPECT_EQ(copy->second.content, "README");
}

TEST(Pack, ZstdRoundTrips) {
  TempDir tmp;
  make_tree(tmp / "src");
  PackOptions o;
  o.format = PackFormat::tar_zst;
  o.level = 19;
  auto r = pack_to(tmp / "src", tmp / "a.tar.zst", o);
  EXPECT_LT(r.bytes_out, 10000u) << "100 kB of one byte compresses";
  auto listed = list_tar(tmp / "a.tar.zst");
  auto readme = std::find_if(listed.begin(), listed.end(), [](auto& e) { return e.first == "README"; });
  ASSERT_NE(readme, listed.end());
  EXPECT_EQ(readme->second.content, std::string(100000, 'r'));
}

TEST(Pack, ErrorsNameWhatIsWrong) {
  TempDir tmp;
  try {
    pack_to(tmp / "missing", tmp / "a.tar");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing: not a folder"), std::string::npos) << e.what();
  }
  try {
    parse_pack_format("zip");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected tar.gz, tar.zst or tar"), std::string::npos) << e.what();
  }
  // A bad level is refused before anything is written.
  make_tree(tmp / "src");
  PackOptions o;
  o.level = 42;
  EXPECT_THROW(pack_to(tmp / "src", tmp / "a.tgz", o), Error);
  EXPECT_FALSE(fs::exists(tmp / "a.tgz"));
  for (const auto& e : fs::directory_iterator(tmp.path())) EXPECT_EQ(e.path().filename().string().find(".a.tgz.tmp"), std::string::npos);
}

TEST(Pack, GitCommitPacksWithRevisionAndCommitTime) {
  TempDir tmp;
  const fs::path repo = tmp / "repo";
  fs::create_directories(repo);
  auto git = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/git", "-C", repo.string(), "-c", "user.name=t", "-c", "user.email=t@example.com"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.env = {{"GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z"}, {"GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z"}};
    auto r = run_process(argv, o);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  git({"init", "-q"});
  write_file(repo / "index.html", "v1");
  git({"add", "."});
  git({"commit", "-qm", "one"});
  std::string commit = git({"rev-parse", "HEAD"});
  commit.pop_back();
  write_file(repo / "dirty.txt", "not committed");

  fs::create_directories(tmp / "x1");
  auto g = export_git_tree(repo.string(), "HEAD", tmp / "x1");
  EXPECT_EQ(g.commit, commit);
  EXPECT_EQ(g.commit_time, 1767323045);
  EXPECT_TRUE(fs::exists(tmp / "x1/index.html"));
  EXPECT_FALSE(fs::exists(tmp / "x1/dirty.txt")) << "only the commit's tree";

  auto run = run_process({haul_binary().string(), "pack", "--git", repo.string(), "--ref", "HEAD", "-o", (tmp / "a.tgz").string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto again = run_process({haul_binary().string(), "pack", "--git", repo.string(), "--ref", commit, "-o", (tmp / "b.tgz").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(sha256_file(tmp / "a.tgz"), sha256_file(tmp / "b.tgz")) << "the same commit packs to the same bytes";
  auto listed = list_tar(tmp / "a.tgz");
  std::map<std::string, Listed> by_name(listed.begin(), listed.end());
  ASSERT_TRUE(by_name.count("REVISION"));
  EXPECT_EQ(by_name["REVISION"].content, commit + "\n");
  EXPECT_EQ(by_name["index.html"].mtime, 1767323045);

  auto bad = run_process({haul_binary().string(), "pack", "--git", repo.string(), "--ref", "no-such-branch", "-o", (tmp / "c.tgz").string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("has no commit 'no-such-branch'"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(tmp / "c.tgz"));
}

// The output's name says the format: it decides when --format is left out,
// and a contradiction is refused before anything is written.
TEST(Pack, TheOutputNameDecidesTheFormatAndAContradictionIsRefused) {
  TempDir tmp;
  make_tree(tmp / "src");
  auto r = run_process({haul_binary().string(), "pack", (tmp / "src").string(), "-o", (tmp / "a.tar.zst").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string zst = read_file(tmp / "a.tar.zst");
  ASSERT_GE(zst.size(), 4u);
  EXPECT_EQ(zst.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4)) << "zstd magic";
  r = run_process({haul_binary().string(), "pack", (tmp / "src").string(), "-o", (tmp / "b.tar.gz").string(), "--format",
                   "tar.zst"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("names a .tar.gz file but --format is tar.zst"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "b.tar.gz"));
}

// ---- haul pack --chunked ----

namespace {

// A file of the release rebuilt from the store's chunks, each checked against its name.
std::string assemble(const delta::ReleaseIndex& idx, const delta::IndexEntry& e, const fs::path& store) {
  std::string out;
  for (uint32_t c : e.chunks) {
    const std::string name = delta::hex(idx.chunks[c].name);
    const std::string z = read_file(store / "chunks" / name.substr(0, 2) / (name + ".zst"));  // the documented layout
    std::string raw(idx.chunks[c].size, '\0');
    EXPECT_EQ(ZSTD_decompress(raw.data(), raw.size(), z.data(), z.size()), raw.size());
    EXPECT_EQ(sha256_hex(raw), name);
    out += raw;
  }
  return out;
}

}  // namespace

TEST(PackChunked, TheIndexHoldsWhatTheTarballHoldsAndTheChunksRebuildEveryFile) {
  TempDir tmp;
  make_tree(tmp / "src");
  write_file(tmp / "src/big.bin", std::string(700 * 1024, 'b') + "tail");
  fs::create_hard_link(tmp / "src/bin/run", tmp / "src/bin/run2");
  PackOptions o;
  o.source = tmp / "src";
  o.output = tmp / "out/app.index";
  fs::create_directories(tmp / "out");
  ChunkedPackResult r = pack_chunked(o, tmp / "store");
  pack_to(tmp / "src", tmp / "app.tar");
  const auto idx = delta::decode_index(read_file(tmp / "out/app.index"), "app.index");
  std::vector<std::string> listed;
  for (const auto& e : idx.entries) listed.push_back(e.path + (e.type == delta::EntryType::dir ? "/" : ""));
  EXPECT_EQ(listed, names(tmp / "app.tar")) << "the same entries in the same order";
  for (const auto& e : idx.entries) {
    SCOPED_TRACE(e.path);
    if (e.type == delta::EntryType::file) {
      EXPECT_EQ(assemble(idx, e, tmp / "store"), read_file(tmp / "src" / e.path));
    }
    if (e.path == "bin/run2") {
      EXPECT_EQ(e.type, delta::EntryType::hardlink);
    }
    if (e.path == "README.link") {
      EXPECT_EQ(e.target, "README");
    }
    if (e.path == "bin/run") {
      EXPECT_EQ(e.mode, 0755u);
    }
  }
  EXPECT_EQ(r.tree.sha256, sha256_file(tmp / "out/app.index"));
  EXPECT_EQ(idx.chunk_store, "../store") << "the index says where its chunks are, relative to itself";
  EXPECT_GT(r.chunks, 5u) << "the 700 KiB file is cut in several";
  EXPECT_EQ(r.new_chunks, r.chunks) << "an empty store gets every chunk";
}

TEST(PackChunked, TheNextReleaseWritesOnlyWhatChangedAndTheSameTreeGivesTheSameIndex) {
  TempDir tmp;
  make_tree(tmp / "src");
  std::string big(2 << 20, '\0');
  uint64_t x = 3;
  for (auto& ch : big) ch = static_cast<char>((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  write_file(tmp / "src/big.bin", big);
  PackOptions o;
  o.source = tmp / "src";
  o.output = tmp / "r1.index";
  o.mtime = 1700000000;
  ChunkedPackResult first = pack_chunked(o, tmp / "store");
  o.output = tmp / "r1-again.index";
  ChunkedPackResult again = pack_chunked(o, tmp / "store");
  EXPECT_EQ(read_file(tmp / "r1.index"), read_file(tmp / "r1-again.index")) << "reproducible";
  EXPECT_EQ(again.new_chunks, 0u);

  big.insert(1 << 20, "an edit in the middle");
  write_file(tmp / "src/big.bin", big);
  write_file(tmp / "src/app/models/user.rb", "class User; def name; end; end\n");
  o.output = tmp / "r2.index";
  ChunkedPackResult second = pack_chunked(o, tmp / "store");
  EXPECT_GE(second.new_chunks, 2u);
  EXPECT_LE(second.new_chunks, 4u) << "user.rb, and one or two chunks around the edit in big.bin";
  EXPECT_LT(second.new_chunk_bytes * 5, first.new_chunk_bytes) << "a small change stores little";
}
