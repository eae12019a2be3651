// SPDX-License-Identifier: Apache-2.0
// The deploy's stages alone, in-process, with the real file source at their
// edge: intake pins and skips manifests, the artifact stream tells a
// checksum mismatch by its kind, and a sync placement leaves dest, its
// content record and no journal — without running the haul binary.
#include <gtest/gtest.h>

#include "deploy/artifact_stream.hpp"
#include "deploy/deploy_context.hpp"
#include "deploy/intake.hpp"
#include "deploy/sync_placement.hpp"
#include "drift/drift_check.hpp"
#include "drift/tree_record.hpp"
#include "plugin_fixture.hpp"
#include "release/deploy_journal.hpp"

using namespace haul;
using namespace haul::test;

namespace {

struct Stages : ::testing::Test {
  TempDir tmp;
  SourceSet sources = all_sources();
  std::vector<HookInstance*> hooks;
  DeployOptions options;
  DeployRequest request;
  StopSignal abort;
  fs::path dest = tmp / "www/app";

  // A manifest for an archive of these files; returns its URL.
  std::string publish(const std::vector<Entry>& entries, const std::string& checksum = "") {
    const std::string tar = make_tar(entries);
    write_file(tmp / "app.tgz", tar);
    write_file(tmp / "m.yml", "src: " + file_url(tmp / "app.tgz") + "\nchecksum: " +
                                  (checksum.empty() ? sha256_hex(tar) : checksum) + "\ndest: " + dest.string() + "\n");
    return file_url(tmp / "m.yml");
  }
  DeployContext context() { return DeployContext("web", sources, hooks, options, request, abort); }
};

}  // namespace

TEST_F(Stages, IntakeReadsTheManifestAndHonoursThePointersSha) {
  request.manifest_url = publish({file_entry("index.html", "v1")});
  {
    DeployContext ctx = context();
    EXPECT_EQ(take_in_manifest(ctx), Intake::deploy);
    EXPECT_EQ(ctx.manifest.dest, dest.string());
    EXPECT_EQ(ctx.manifest_sha256, sha256_hex(read_file(tmp / "m.yml")));
    request.unless_manifest_sha256 = ctx.manifest_sha256;
  }
  {
    DeployContext ctx = context();
    EXPECT_EQ(take_in_manifest(ctx), Intake::already_applied);
  }
  request.unless_manifest_sha256.clear();
  request.expected_manifest_sha256 = std::string(64, '0');
  DeployContext ctx = context();
  try {
    take_in_manifest(ctx);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("but the desired-release pointer says 0000"), std::string::npos) << e.what();
  }
}

TEST_F(Stages, TheArtifactStreamTellsAChecksumMismatchByItsKind) {
  request.manifest_url = publish({file_entry("index.html", "v1")}, std::string(64, 'a'));
  DeployContext ctx = context();
  ASSERT_EQ(take_in_manifest(ctx), Intake::deploy);
  try {
    stream_artifact(ctx, [](const ChunkReader& read) {
      while (read().second) {
      }
    });
    FAIL() << "no mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::checksum_mismatch);
    EXPECT_NE(std::string(e.what()).find("dest left untouched"), std::string::npos) << e.what();
  }
  EXPECT_GT(ctx.bytes_fetched, 0u);
}

TEST_F(Stages, ASyncPlacementLeavesDestItsRecordAndNoJournal) {
  request.manifest_url = publish({dir_entry("app"), file_entry("app/a.rb", "puts 1"), file_entry("index.html", "v1")});
  DeployContext ctx = context();
  ASSERT_EQ(take_in_manifest(ctx), Intake::deploy);
  fs::create_directories(dest.parent_path());
  place_by_sync(ctx, dest);
  EXPECT_EQ(read_file(dest / "app/a.rb"), "puts 1");
  EXPECT_FALSE(DeployJournal::beside(dest).read());
  const TreeRecord record = TreeRecord::load(TreeRecord::beside(dest));
  EXPECT_EQ(record.manifest_url, request.manifest_url);
  EXPECT_EQ(record.entries().size(), 3u);
  EXPECT_FALSE(check_drift(dest, record).drifted());
}
