// SPDX-License-Identifier: Apache-2.0
// Delta releases through the real binary, as an operator runs them: `haul
// pack --chunked`, `haul publish` of the index, and deploys over http
// (nginx) and file:// that fetch only the chunks the server lacks — and
// refuse, leaving dest as it was, a chunk that is not what its name says,
// a chunk that is missing, or an index that tries to leave the release.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zstd.h>

#include <algorithm>
#include <random>
#include <regex>
#include <set>

#include "delta/chunk_name.hpp"
#include "delta/index_delta.hpp"
#include "delta/release_index.hpp"
#include "test_support.hpp"

using namespace haul::test;

namespace {

// Every regular file and symlink below root, by relative path, with its content or target.
std::map<std::string, std::string> tree_of(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string rel = fs::relative(it->path(), root).string();
    if (it->is_symlink())
      out[rel] = "-> " + fs::read_symlink(it->path()).string();
    else if (it->is_regular_file())
      out[rel] = read_file(it->path());
    else if (it->is_directory())
      out[rel + "/"] = "";
  }
  return out;
}

// The count of a "<N> chunks (...) from the store" line in haul's log.
long fetched_chunks(const std::string& log) {
  std::smatch m;
  if (!std::regex_search(log, m, std::regex(R"(, (\d+) chunks? \([^)]*\) from the store)"))) return -1;
  return std::stol(m[1]);
}

// A published index file made whole: a delta is applied to the base it names, in turn.
std::string whole_index(const fs::path& file) {
  const std::string url = "file://" + file.string();
  std::string payload = haul::delta::decompress_index(read_file(file), url, 1 << 30);
  if (!haul::delta::is_index_delta_payload(payload.data(), payload.size())) return payload;
  const auto delta = haul::delta::read_index_delta(payload, url);
  const std::string base = haul::delta::index_base_url(url, delta.base_location);
  return haul::delta::apply_index_delta(delta, whole_index(base.substr(7)), url, 1 << 30);
}

class DeltaRelease : public ::testing::Test {
 protected:
  TempDir tmp;
  fs::path app = tmp / "app";
  fs::path site = tmp / "site";  // what nginx serves: dist/<release>/app.index and dist/chunks/
  fs::path dest = tmp / "www/app";

  void SetUp() override {
    for (int i = 0; i < 30; ++i) write_file(app / ("lib/f" + std::to_string(i) + ".rb"), random_bytes(1000 + i * 700, i));
    write_file(app / "public/bundle.js", random_bytes(1 << 20, 99));  // many chunks
    write_file(app / "bin/run", "#!/bin/sh\necho run\n", 0755);
    fs::create_symlink("lib/f1.rb", app / "main.rb");
  }

  ProcessResult haul(const std::vector<std::string>& args) {
    std::vector<std::string> argv{haul_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "SERF_USER_LTIME"};
    return run_process(argv, o);
  }

  // Packs app as release `name` into site/dist; returns the index's path.
  fs::path pack(const std::string& name) {
    const fs::path index = site / "dist" / name / "app.index";
    const auto r = haul({"pack", app.string(), "--chunked", "-o", index.string(), "--chunk-store", (site / "dist").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return index;
  }

  // A manifest for the index at src_url; returns its file:// URL.
  std::string manifest(const std::string& name, const std::string& src_url, const fs::path& index,
                       const std::string& extra = "") {
    write_file(tmp / (name + ".yml"), "src: " + src_url + "\nchecksum: " + sha256_file(index) + "\ndest: " +
                                          dest.string() + "\n" + extra);
    return file_url(tmp / (name + ".yml"));
  }

  // A chunk file in the store that release index `index` has and `before` does not.
  fs::path a_new_chunk(const std::set<fs::path>& before) {
    for (const auto& e : fs::recursive_directory_iterator(site / "dist/chunks"))
      if (e.is_regular_file() && !before.count(e.path())) return e.path();
    ADD_FAILURE() << "no new chunk";
    return {};
  }
  // Packs app as `release` and publishes it to the store at `store` with --pack-chunks.
  ProcessResult publish_packed(const fs::path& store, const std::string& release, const std::string& pack_chunks) {
    return haul({"publish", pack(release).string(), "--to", file_url(store), "--role", "web", "--stage", "prod", "--dest",
                 dest.string(), "--release", release, "--pack-chunks", pack_chunks});
  }
  std::set<fs::path> chunks_now() {
    std::set<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(site / "dist/chunks"))
      if (e.is_regular_file()) out.insert(e.path());
    return out;
  }
};

}  // namespace

TEST_F(DeltaRelease, OverHttpTheNextReleaseFetchesOnlyTheChunksThatChanged) {
  NginxServer nginx(site);
  const fs::path i1 = pack("r1");
  auto r = haul({"deploy", manifest("r1", nginx.url("/dist/r1/app.index"), i1)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  EXPECT_EQ(fs::status(dest / "bin/run").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  const long first = fetched_chunks(r.err);
  EXPECT_GT(first, 35) << r.err;  // every chunk: nothing was there

  // Two small files edited, one added, a few bytes inserted into the bundle.
  const auto before = chunks_now();
  write_file(app / "lib/f3.rb", random_bytes(3100, 1003));
  write_file(app / "lib/f7.rb", random_bytes(5900, 1007));
  write_file(app / "lib/new.rb", "puts 1\n");
  std::string bundle = read_file(app / "public/bundle.js");
  bundle.insert(600000, "/* patched */");
  write_file(app / "public/bundle.js", bundle);
  const fs::path i2 = pack("r2");
  const size_t new_chunks = chunks_now().size() - before.size();
  r = haul({"deploy", manifest("r2", nginx.url("/dist/r2/app.index"), i2)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  // Exactly the chunks the pack had to add: everything else came from dest.
  EXPECT_EQ(fetched_chunks(r.err), static_cast<long>(new_chunks)) << r.err;
  EXPECT_LE(new_chunks, 6u);

  // The same release again: nothing to fetch but the index.
  r = haul({"deploy", manifest("r2", nginx.url("/dist/r2/app.index"), i2)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fetched_chunks(r.err), 0) << r.err;
}

TEST_F(DeltaRelease, AChunkThatIsNotWhatItsNameSaysFailsTheDeployAndDestStaysAsItWas) {
  const fs::path i1 = pack("r1");
  ASSERT_EQ(haul({"deploy", manifest("r1", file_url(i1), i1)}).exit_code, 0);
  const auto deployed = tree_of(dest);
  const auto before = chunks_now();
  write_file(app / "lib/f5.rb", random_bytes(4000, 555));
  const fs::path i2 = pack("r2");
  const fs::path bad = a_new_chunk(before);
  // A valid zstd frame of the right size, of other bytes.
  const std::string other = random_bytes(4000, 556);
  std::string z(ZSTD_compressBound(other.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), other.data(), other.size(), 3));
  write_file(bad, z);
  auto r = haul({"deploy", manifest("r2", file_url(i2), i2)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("do not hash to its name"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad.filename().string()), std::string::npos) << r.err;  // names the chunk's URL
  EXPECT_EQ(tree_of(dest), deployed);

  // Gone from the store: the URL is named, dest untouched.
  fs::remove(bad);
  r = haul({"deploy", manifest("r2", file_url(i2), i2)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(bad.string()), std::string::npos) << r.err;
  EXPECT_EQ(tree_of(dest), deployed);
}

TEST_F(DeltaRelease, AnIndexThatLeavesTheReleaseIsRefusedBeforeAnythingIsFetchedOrPlaced) {
  write_file(dest / "keep.txt", "mine");
  // Version 1 by hand: no store, no chunks, one folder entry "../escape".
  std::string raw = "HAULIDX1";
  raw += '\0';                    // chunk store ""
  raw += '\0';                    // no chunks
  raw += '\1';                    // one entry
  raw += '\0';                    // shares nothing with the previous path
  raw += '\x09';                  // 9 bytes of path
  raw += "../escape";
  raw += 'd';
  raw += "\xed\x03";              // mode 0755
  raw += '\0';                    // mtime 0
  std::string z(ZSTD_compressBound(raw.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), raw.data(), raw.size(), 3));
  write_file(tmp / "evil.index", z);
  auto r = haul({"deploy", manifest("evil", file_url(tmp / "evil.index"), tmp / "evil.index")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("entry '../escape'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "www/escape"));
  EXPECT_EQ(read_file(dest / "keep.txt"), "mine");
  EXPECT_EQ(fs::directory_iterator(dest)->path().filename(), "keep.txt");
}

TEST_F(DeltaRelease, TheReleaseStrategyTakesUnchangedChunksFromThePreviousReleaseAndLinksItsFiles) {
  const fs::path i1 = pack("r1");
  ASSERT_EQ(haul({"deploy", manifest("r1", file_url(i1), i1, "sync_strategy: release\nrelease: r1\n")}).exit_code, 0);
  write_file(app / "lib/f9.rb", random_bytes(2000, 909));
  const fs::path i2 = pack("r2");
  auto r = haul({"deploy", manifest("r2", file_url(i2), i2, "sync_strategy: release\nrelease: r2\n")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fetched_chunks(r.err), 1) << r.err;
  EXPECT_EQ(tree_of(dest / "releases/r2"), tree_of(app));
  struct stat a {}, b {};
  ASSERT_EQ(stat((dest / "releases/r1/public/bundle.js").c_str(), &a), 0);
  ASSERT_EQ(stat((dest / "releases/r2/public/bundle.js").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // unchanged: one file on disk for both releases
  EXPECT_EQ(read_file(dest / "current/lib/f9.rb"), read_file(app / "lib/f9.rb"));
}

TEST_F(DeltaRelease, PublishUploadsOnlyTheChunksTheStoreLacksAndAgentsDeployThePublishedIndex) {
  const fs::path store = tmp / "store";
  fs::create_directories(store);
  auto publish = [&](const std::string& release) {
    const fs::path index = pack(release);
    return haul({"publish", index.string(), "--to", file_url(store), "--role", "web", "--stage", "prod", "--dest",
                 dest.string(), "--release", release});
  };
  auto r = publish("r1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(0 already there)"), std::string::npos) << r.err;
  write_file(app / "lib/f2.rb", random_bytes(2500, 202));
  r = publish("r2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("upload 1 chunk of "), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(store / "r2/app.index"));
  r = haul({"deploy", file_url(store / "manifest_web_prod.yml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));

  // An index whose chunks are not where it says: refused before any upload.
  const fs::path moved = tmp / "elsewhere/app.index";
  fs::create_directories(moved.parent_path());
  fs::copy_file(site / "dist/r2/app.index", moved);
  r = haul({"publish", moved.string(), "--to", file_url(tmp / "store2"), "--role", "web", "--stage", "prod", "--dest",
            dest.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("which is not in its store"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "store2"));
}

TEST_F(DeltaRelease, TheNextIndexGoesAsADeltaThatAgentsApplyToTheIndexTheyHoldOrFetchTheBaseOf) {
  const fs::path store = tmp / "store";
  const fs::path cache = dest.parent_path() / ".haul-app.indexes";
  int n = 0;
  auto publish = [&] {
    const std::string release = "r" + std::to_string(++n);
    write_file(app / "VERSION", release);
    return haul({"publish", pack(release).string(), "--to", file_url(store), "--role", "web", "--stage", "prod",
                 "--dest", dest.string(), "--release", release});
  };
  auto is_delta = [&](const std::string& release) {
    const std::string p = haul::delta::decompress_index(read_file(store / release / "app.index"), release, 1 << 30);
    return haul::delta::is_index_delta_payload(p.data(), p.size());
  };
  const std::string manifest_url = file_url(store / "manifest_web_prod.yml");

  auto r = publish();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(is_delta("r1"));
  ASSERT_EQ(haul({"deploy", manifest_url}).exit_code, 0);
  EXPECT_EQ(std::distance(fs::directory_iterator(cache), {}), 1);  // r1's index, for the next delta

  r = publish();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the index goes as a delta of " + file_url(store / "r1/app.index") + "'s"), std::string::npos)
      << r.err;
  EXPECT_TRUE(is_delta("r2"));
  EXPECT_LT(fs::file_size(store / "r2/app.index") * 4, fs::file_size(store / "r1/app.index"));
  r = haul({"deploy", manifest_url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("which this machine holds"), std::string::npos) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  // Published again: the same bytes, so the manifests naming it stay valid.
  r = haul({"publish", (site / "dist/r2/app.index").string(), "--to", file_url(store), "--role", "web", "--stage",
            "prod", "--dest", dest.string(), "--release", "r2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("already there with the same bytes"), std::string::npos) << r.err;

  // The base is not what the delta was made of: refused, dest as it was.
  const auto before = tree_of(dest);
  const std::string r1_index = read_file(store / "r1/app.index");
  fs::copy_file(site / "dist/r2/app.index", store / "r1/app.index", fs::copy_options::overwrite_existing);
  fs::remove_all(cache);
  write_file(app / "VERSION", "r3");
  r = haul({"deploy", manifest("r2", file_url(store / "r2/app.index"), store / "r2/app.index")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("its base ../r1/app.index is not the index it was made against"), std::string::npos) << r.err;
  EXPECT_EQ(tree_of(dest), before);
  write_file(store / "r1/app.index", r1_index);

  // A new machine (no cache), or a damaged cache: the base is fetched.
  write_file(cache / "0000", "not an index");
  r = haul({"deploy", manifest_url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("is a delta of " + file_url(store / "r1/app.index") + ": fetching that"), std::string::npos)
      << r.err;
  write_file(app / "VERSION", "r2");
  EXPECT_EQ(tree_of(dest), tree_of(app));

  // Eight deltas deep, the next index goes whole again: a new machine fetches at most nine.
  for (int i = 0; i < 8; ++i) ASSERT_EQ(publish().exit_code, 0);
  EXPECT_TRUE(is_delta("r9"));
  EXPECT_FALSE(is_delta("r10"));
  fs::remove_all(dest);
  fs::remove_all(cache);
  ASSERT_EQ(publish().exit_code, 0);  // r11, a delta of r10
  r = haul({"deploy", manifest_url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));

  // The cache is a convenience: one that cannot be written costs a later fetch, not the deploy.
  fs::remove_all(cache);
  write_file(cache, "a file where the folder goes");
  ASSERT_EQ(publish().exit_code, 0);
  r = haul({"deploy", manifest_url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Cannot keep the release index in " + cache.string()), std::string::npos) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
}

TEST_F(DeltaRelease, GcKeepsTheNewestReleasesAndThoseManifestsNameAndRemovesOnlyChunksNoneOfThemNeeds) {
  const fs::path store = tmp / "store";
  auto publish = [&](const std::string& release, const std::string& stage) {
    const auto r = haul({"publish", pack(release).string(), "--to", file_url(store), "--role", "web", "--stage", stage,
                         "--dest", dest.string(), "--release", release});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };
  auto chunks_in_store = [&] {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(store / "chunks"))
      if (e.is_regular_file()) out.insert(e.path().filename().string());
    return out;
  };
  auto chunks_of = [&](const std::string& release) {
    std::set<std::string> out;
    const auto index = haul::delta::decode_index_payload(whole_index(store / release / "app.index"), release);
    for (const auto& c : index.chunks) out.insert(haul::delta::hex(c.name) + ".zst");
    return out;
  };
  write_file(app / "lib/only-r1.rb", random_bytes(3000, 1));
  publish("r1", "prod");
  const auto r1_chunks = chunks_of("r1");
  fs::remove(app / "lib/only-r1.rb");
  write_file(app / "lib/f4.rb", random_bytes(3000, 2));
  publish("r2", "prod");     // manifest_web_prod names r2
  write_file(app / "lib/f5.rb", random_bytes(3000, 3));
  publish("r3", "staging");  // the newest; manifest_web_staging names it
  const auto before = chunks_in_store();

  // Fresh chunks are left: a publish in progress uploads chunks before its index.
  auto r = haul({"gc", "--store", file_url(store), "--keep", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("younger than --min-age"), std::string::npos) << r.err;
  EXPECT_EQ(chunks_in_store(), before);
  EXPECT_TRUE(fs::exists(store / "r1/app.index"));  // kept r2's index is a delta of r1's
  EXPECT_NE(r.err.find("release r1: its index stays"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(store / "r2/app.index"));   // named by manifest_web_prod.yml
  EXPECT_TRUE(fs::exists(store / "r3/app.index"));   // the newest

  r = haul({"gc", "--store", file_url(store), "--keep", "1", "--min-age", "0s", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("would remove"), std::string::npos) << r.out;
  EXPECT_EQ(chunks_in_store(), before);

  r = haul({"gc", "--store", file_url(store), "--keep", "1", "--min-age", "0s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> needed = chunks_of("r2"), r3 = chunks_of("r3");
  needed.insert(r3.begin(), r3.end());
  EXPECT_EQ(chunks_in_store(), needed);  // exactly what r2 and r3 need
  EXPECT_FALSE(std::includes(needed.begin(), needed.end(), r1_chunks.begin(), r1_chunks.end()));  // r1's own went
  ASSERT_EQ(haul({"deploy", file_url(store / "manifest_web_prod.yml")}).exit_code, 0);
  ASSERT_EQ(haul({"deploy", file_url(store / "manifest_web_staging.yml")}).exit_code, 0);
  EXPECT_EQ(tree_of(dest), tree_of(app));

  // Held wrong: a clear answer, nothing removed.
  r = haul({"gc", "--store", file_url(store), "--keep", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--keep: expected at least 1"), std::string::npos) << r.err;
  r = haul({"gc", "--store", "http://127.0.0.1:9/app", "--keep", "1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot list and remove objects"), std::string::npos) << r.err;
  EXPECT_EQ(chunks_in_store(), needed);
}

namespace {
// The count of a "<N> files unchanged in dest since the last deploy stamped them" line; 0 without one.
long unread_files(const std::string& log) {
  std::smatch m;
  if (!std::regex_search(log, m, std::regex(R"((\d+) files? unchanged in dest since the last deploy stamped them)")))
    return 0;
  return std::stol(m[1]);
}
}  // namespace

TEST_F(DeltaRelease, StampsLetTheNextDeployKeepUnchangedFilesUnreadButNeverAFileChangedBehindHaulsBack) {
  const fs::path i1 = pack("r1");
  const std::string m1 = manifest("r1", file_url(i1), i1);
  const fs::path stamps = dest.parent_path() / ".haul-app.stamps";
  auto r = haul({"deploy", m1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(unread_files(r.err), 0) << r.err;  // nothing stamped yet
  ASSERT_TRUE(fs::exists(stamps));

  // The same release again: every file (30 in lib/, the bundle, bin/run) kept unread.
  r = haul({"deploy", m1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(unread_files(r.err), 32) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  // The content record still has every file's hash: haul diff, which reads every byte, finds no drift.
  r = haul({"diff", dest.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // Changed behind haul's back with its size and mtime kept (rsync's quick
  // check would pass it): its ctime moved, so it is read and put right.
  const auto mtime = fs::last_write_time(dest / "lib/f5.rb");
  write_file(dest / "lib/f5.rb", random_bytes(fs::file_size(dest / "lib/f5.rb"), 555));
  fs::last_write_time(dest / "lib/f5.rb", mtime);
  r = haul({"deploy", m1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(unread_files(r.err), 31) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));

  // The next release: its changed file is fetched, the rest kept unread.
  write_file(app / "lib/f3.rb", random_bytes(3100, 1003));
  const fs::path i2 = pack("r2");
  const std::string m2 = manifest("r2", file_url(i2), i2);
  r = haul({"deploy", m2});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(unread_files(r.err), 31) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));

  // A torn stamps file is no stamps at all: every file is read, and stamped again.
  const std::string whole = read_file(stamps);
  write_file(stamps, whole.substr(0, whole.size() / 2));
  r = haul({"deploy", m2});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(unread_files(r.err), 0) << r.err;
  EXPECT_NE(r.err.find("Dest's stamps " + stamps.string() + " not used: torn, or not a stamps file; every file dest "
                       "holds is read once"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  r = haul({"deploy", m2});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(unread_files(r.err), 32) << r.err;
}

TEST_F(DeltaRelease, AFolderOfDestSwappedForASymlinkToItsOwnFilesIsPlacedAsTheReleaseSays) {
  const fs::path i1 = pack("r1");
  const std::string m1 = manifest("r1", file_url(i1), i1);
  auto r = haul({"deploy", m1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The very inodes the stamps name, now reached through a symlink: haul
  // never keeps a file through one, so lib/ is a folder again after the deploy.
  fs::create_directories(tmp / "elsewhere");
  fs::rename(dest / "lib", tmp / "elsewhere/lib");
  fs::create_directory_symlink(tmp / "elsewhere/lib", dest / "lib");
  r = haul({"deploy", m1});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("is no longer the file its stamp names; starting over, reading every file dest holds"),
            std::string::npos) << r.err;
  EXPECT_EQ(unread_files(r.err), 0) << r.err;
  EXPECT_FALSE(fs::is_symlink(dest / "lib"));
  EXPECT_EQ(tree_of(dest), tree_of(app));
  EXPECT_EQ(tree_of(tmp / "elsewhere/lib"), tree_of(app / "lib"));  // the symlink's target is left alone
}

namespace {
// The "<N> requests" of the "... transferred in <N> requests ..." line; -1 without one.
long chunk_requests(const std::string& log) {
  std::smatch m;
  if (!std::regex_search(log, m, std::regex(R"(transferred in (\d+) requests?)"))) return -1;
  return std::stol(m[1]);
}
std::vector<fs::path> packs_in(const fs::path& store) {
  std::vector<fs::path> out;
  if (fs::exists(store / "packs"))
    for (const auto& e : fs::directory_iterator(store / "packs")) out.push_back(e.path());
  return out;
}
}  // namespace

TEST_F(DeltaRelease, ANewServerReadsPackedChunksAsRangesOfAPackAndADamagedPackOnlyCostsLooseRequests) {
  const fs::path store = site / "store";
  auto publish = [&](const std::string& release, const std::string& pack_chunks) {
    return publish_packed(store, release, pack_chunks);
  };
  auto r = publish("r1", "1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("upload a pack of "), std::string::npos) << r.err;
  ASSERT_EQ(packs_in(store).size(), 1u);
  ASSERT_TRUE(fs::exists(store / "r1/app.index.packs"));
  const long chunks = static_cast<long>(haul::delta::decode_index(read_file(store / "r1/app.index"), "r1").chunks.size());

  NginxServer nginx(site);
  const std::string m1 = manifest("r1", nginx.url("/store/r1/app.index"), store / "r1/app.index");
  auto fresh_deploy = [&] {
    fs::remove_all(dest);
    fs::remove_all(tmp / "www/.haul-app.indexes");
    fs::remove(tmp / "www/.haul-app.stamps");
    return haul({"deploy", m1});
  };
  // Without a single loose chunk in the store, only the pack can make the release.
  fs::rename(store / "chunks", tmp / "loose");
  r = fresh_deploy();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  EXPECT_NE(r.err.find(std::to_string(chunks) + " read from packs"), std::string::npos) << r.err;
  EXPECT_GT(chunk_requests(r.err), 0) << r.err;
  EXPECT_LT(chunk_requests(r.err), chunks / 4) << r.err;  // ranges, not a request a chunk

  // A damaged pack: its chunks come loose, with a warning, and the release is right.
  fs::rename(tmp / "loose", store / "chunks");
  const fs::path pack_file = packs_in(store)[0];
  std::string bytes = read_file(pack_file);
  bytes[bytes.size() / 2] ^= 0x5a;
  write_file(pack_file, bytes);
  r = fresh_deploy();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  EXPECT_NE(r.err.find("come loose instead"), std::string::npos) << r.err;

  // Damaged pack and no loose chunks: the deploy fails naming a chunk, and places nothing.
  fs::rename(store / "chunks", tmp / "loose");
  r = fresh_deploy();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/store/chunks/"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dest));
  fs::rename(tmp / "loose", store / "chunks");

  // A map that is not its index's (a stale one) is refused whole; the chunks come loose.
  write_file(store / "r1/app.index.packs", read_file(store / "r1/app.index.packs").substr(0, 40));
  r = fresh_deploy();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
  EXPECT_NE(r.err.find("pack map "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("read from packs"), std::string::npos) << r.err;
}

TEST_F(DeltaRelease, APublishOfFewNewChunksPacksNothingAndGcRemovesAPackNoKeptReleaseMaps) {
  const fs::path store = tmp / "store";
  auto publish = [&](const std::string& release, const std::string& pack_chunks) {
    return publish_packed(store, release, pack_chunks);
  };
  auto held_wrong = publish("r1", "-1");
  EXPECT_EQ(held_wrong.exit_code, 2);
  EXPECT_NE(held_wrong.err.find("--pack-chunks: expected a count of chunks, 0 or more"), std::string::npos) << held_wrong.err;
  EXPECT_FALSE(fs::exists(store));
  ASSERT_EQ(publish("r1", "1").exit_code, 0);
  const auto r1_pack = packs_in(store);
  ASSERT_EQ(r1_pack.size(), 1u);
  // One file changed: 1 chunk in no pack, under --pack-chunks 2. The map
  // still says where r1's chunks are, for a new server of r2.
  write_file(app / "lib/f2.rb", random_bytes(2500, 202));
  auto r = publish("r2", "2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("upload a pack"), std::string::npos) << r.err;
  EXPECT_EQ(packs_in(store), r1_pack);
  ASSERT_TRUE(fs::exists(store / "r2/app.index.packs"));

  // Every file rewritten and packed: r3 needs nothing of r1's pack.
  write_file(app / "bin/run", "#!/bin/sh\necho run 3\n", 0755);
  for (int i = 0; i < 30; ++i) write_file(app / ("lib/f" + std::to_string(i) + ".rb"), random_bytes(1500 + i * 500, 500 + i));
  write_file(app / "public/bundle.js", random_bytes(1 << 20, 599));
  r = publish("r3", "1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(packs_in(store).size(), 2u);

  // --keep 1: r3 is kept (newest, and the manifest names it); r1's pack
  // is needed by no kept map, r3's is. r1's and r2's indexes stay (r3's is
  // a delta of them), their maps go.
  r = haul({"gc", "--store", file_url(store), "--keep", "1", "--min-age", "0s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("with 1 pack"), std::string::npos) << r.err;
  const auto left = packs_in(store);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(left[0], r1_pack[0]);
  EXPECT_FALSE(fs::exists(store / "r1/app.index.packs"));
  EXPECT_FALSE(fs::exists(store / "r2/app.index.packs"));
  EXPECT_TRUE(fs::exists(store / "r3/app.index.packs"));
  r = haul({"deploy", file_url(store / "manifest_web_prod.yml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tree_of(dest), tree_of(app));
}
