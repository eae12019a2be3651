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
