// SPDX-License-Identifier: Apache-2.0
// The hostile-archive corpus (tests/fixtures/make_hostile_archives.py)
// deployed through the real binary: each must be refused with its expected
// message, dest must stay exactly as it was, and nothing may appear outside.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <iostream>

#include "test_support.hpp"

using namespace haul::test;

namespace {

// Every path with its mode and size — except haul's own lock file beside
// dest, the one thing a deploy creates outside its staging folder by design.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".haul-", 0) == 0 && name.size() > 5 && name.substr(name.size() - 5) == ".lock") continue;
    struct stat st;
    lstat(e.path().c_str(), &st);
    out.push_back(e.path().string() + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_size));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(HostileArchives, EveryOneIsRefusedAndNothingOutsideStagingChanges) {
  TempDir corpus, work;
  auto gen = run_process({"/usr/bin/python3", HAUL_TEST_SOURCE_DIR "/fixtures/make_hostile_archives.py", corpus.path().string()});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto cases = nlohmann::json::parse(read_file(corpus / "expectations.json"));
  // The folder the corpus's allow_symlink_targets names: real, so that a
  // write through a link into it would land.
  const fs::path allowed = "/tmp/haul-hostile-allowed";
  fs::create_directories(allowed);
  const auto allowed_before = listing(allowed);
  int refused = 0, hostile = 0;
  for (const auto& c : cases) {
    const std::string file = c["file"], refusal = c["refusal"], extra = c["config"];
    SCOPED_TRACE(file);
    const fs::path root = work / file;  // everything this deploy may touch lives here
    const fs::path dest = root / "www/app";
    write_file(dest / "index.html", "live");
    write_file(dest / "keep/data.txt", "live data");
    const std::string bytes = read_file(corpus / file);
    write_file(root / "m.yml", "src: " + file_url(corpus / file) + "\nchecksum: " + sha256_hex(bytes) + "\ndest: " +
                                   dest.string() + "\n");
    write_file(root / "haul.yaml", "pipelines:\n  p:\n    trigger: consul-watch\n    deploy: {" + extra + "}\n");
    const auto before = listing(root);
    const auto corpus_before = listing(corpus.path());
    ProcessOptions o;
    o.cwd = root.string();
    auto r = run_process({haul_binary().string(), "deploy", file_url(root / "m.yml"), "--config", (root / "haul.yaml").string()}, o);
    EXPECT_EQ(listing(corpus.path()), corpus_before);
    EXPECT_FALSE(fs::exists("/tmp/haul-hostile-absolute"));
    EXPECT_FALSE(fs::exists(work / "haul-hostile-dotdot"));
    EXPECT_EQ(listing(allowed), allowed_before) << "nothing written into the allowed folder";
    if (refusal.empty()) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      continue;
    }
    ++hostile;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(refusal), std::string::npos) << r.err;
    EXPECT_EQ(listing(root), before) << "dest (and everything beside it) untouched";
    if (r.exit_code == 1 && r.err.find(refusal) != std::string::npos && listing(root) == before) ++refused;
  }
  fs::remove_all(allowed);
  std::cout << "hostile archives refused: " << refused << " of " << hostile << "\n";
  EXPECT_EQ(refused, hostile);
  EXPECT_GE(hostile, 15);
}

TEST(HostileArchives, SetuidBitsAreDroppedWithAWarning) {
  TempDir corpus, work;
  ASSERT_EQ(run_process({"/usr/bin/python3", HAUL_TEST_SOURCE_DIR "/fixtures/make_hostile_archives.py", corpus.path().string()}).exit_code, 0);
  const std::string bytes = read_file(corpus / "setuid.tar");
  write_file(work / "m.yml", "src: " + file_url(corpus / "setuid.tar") + "\nchecksum: " + sha256_hex(bytes) +
                                 "\ndest: " + (work / "app").string() + "\n");
  auto r = run_process({haul_binary().string(), "deploy", file_url(work / "m.yml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("dropped the setuid/setgid bits of 1 file(s)"), std::string::npos) << r.err;
  struct stat st;
  stat((work / "app/bin/tool").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

// stretcher's tarballs carry `log -> /var/log/app` and `public/uploads ->
// /srv/shared/uploads`; tar and rsync placed them. With the folders listed in
// deploy.allow_symlink_targets haul places them too — with either strategy —
// and never writes, replaces or deletes anything through them: not when a
// later release turns the link into a folder, nor when it drops the link.
TEST(HostileArchives, SymlinksIntoOperatorListedFoldersArePlacedAndNeverWrittenThrough) {
  TempDir work;
  const fs::path out = work / "shared";
  write_file(out / "log/app.log", "precious log");
  write_file(out / "uploads/photo.jpg", "a user's photo");
  const auto out_before = listing(out);
  auto release = [&](const std::string& name, bool links) {
    const fs::path tree = work / "src" / name;
    write_file(tree / "index.html", name);
    if (links) {
      fs::create_directories(tree / "public");
      fs::create_directory_symlink(out / "log", tree / "log");
      fs::create_directory_symlink(out / "uploads", tree / "public/uploads");
    } else {
      write_file(tree / "log/README", "logs go to journald now");
    }
    const fs::path tgz = work / (name + ".tgz");
    auto p = run_process({haul_binary().string(), "pack", tree.string(), "-o", tgz.string()});
    EXPECT_EQ(p.exit_code, 0) << p.err;
    return tgz;
  };
  const fs::path with_links = release("r1", true), without = release("r2", false);
  for (const std::string strategy : {"rsync", "release"}) {
    SCOPED_TRACE(strategy);
    const fs::path dest = work / ("www-" + strategy);
    const fs::path live = strategy == "release" ? dest / "current" : dest;
    const fs::path config = work / "haul.yaml";
    write_file(config, "pipelines:\n  p:\n    trigger: consul-watch\n    deploy: { allow_symlink_targets: [" +
                           out.string() + "/] }\n");
    auto deploy = [&](const fs::path& tgz, const std::string& release_id) {
      const fs::path m = work / ("m-" + strategy + "-" + release_id + ".yml");
      write_file(m, "src: " + file_url(tgz) + "\nchecksum: " + sha256_hex(read_file(tgz)) + "\ndest: " +
                        dest.string() + "\nsync_strategy: " + strategy + "\nrelease: " + release_id + "\n");
      return run_process({haul_binary().string(), "deploy", file_url(m), "--config", config.string()});
    };
    auto r = deploy(with_links, "r1");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(fs::read_symlink(live / "log"), out / "log");
    EXPECT_EQ(fs::read_symlink(live / "public/uploads"), out / "uploads");
    EXPECT_EQ(read_file(live / "log/app.log"), "precious log");
    r = deploy(with_links, "r1b");  // unchanged: the links are kept as they are
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = deploy(without, "r2");  // log/ is a folder again, public/uploads is gone
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::is_symlink(live / "log"));
    EXPECT_EQ(read_file(live / "log/README"), "logs go to journald now");
    EXPECT_FALSE(fs::exists(fs::symlink_status(live / "public/uploads")));
    r = deploy(with_links, "r3");  // and back to links
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::is_symlink(live / "log"));
    auto diff = run_process({haul_binary().string(), "diff", dest.string()});
    EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;
    EXPECT_EQ(listing(out), out_before) << "nothing written, replaced or deleted through the links";
  }
  // Without the setting the refusal names it; a wrong setting is refused before anything runs.
  write_file(work / "m.yml", "src: " + file_url(with_links) + "\nchecksum: " + sha256_hex(read_file(with_links)) +
                                 "\ndest: " + (work / "plain").string() + "\n");
  auto r = run_process({haul_binary().string(), "deploy", file_url(work / "m.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("outside the release; refusing to extract (to place links into a folder outside the release, "
                       "list it in the pipeline config: deploy: { allow_symlink_targets: [" + (out / "log").string() +
                       "] }, or --allow-symlink-target " + (out / "log").string() + ")"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(work / "plain"));
  r = run_process({haul_binary().string(), "deploy", file_url(work / "m.yml"), "--allow-symlink-target",
                   out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const std::string bad : {"/", "shared/log"}) {
    write_file(work / "bad.yaml",
               "pipelines:\n  p:\n    trigger: consul-watch\n    deploy: { allow_symlink_targets: [" + bad + "] }\n");
    auto c = run_process({haul_binary().string(), "check", (work / "bad.yaml").string()});
    EXPECT_EQ(c.exit_code, 2) << bad;
    EXPECT_NE(c.err.find("pipelines.p.deploy.allow_symlink_targets"), std::string::npos) << c.err;
  }
  EXPECT_EQ(listing(out), out_before);
}
