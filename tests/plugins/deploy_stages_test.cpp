// SPDX-License-Identifier: Apache-2.0
// The deploy's stages alone, in-process, with the real file source at their
// edge: intake pins and skips manifests, the artifact stream tells a
// checksum mismatch by its kind, and the placements take their steps in the
// engine's order (placement.hpp): dest changes only at commit, a failure
// before it leaves dest as it was, one after it is undone where the
// strategy can — without running the haul binary.
#include <gtest/gtest.h>

#include "deploy/artifact_stream.hpp"
#include "deploy/deploy_context.hpp"
#include "deploy/intake.hpp"
#include "deploy/release_placement.hpp"
#include "deploy/sync_placement.hpp"
#include "drift/drift_check.hpp"
#include "drift/tree_record.hpp"
#include "plugin_fixture.hpp"
#include "release/deploy_journal.hpp"
#include "release/release_store.hpp"

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
  std::string publish(const std::vector<Entry>& entries, const std::string& checksum = "",
                      const std::string& more = "") {
    const std::string tar = make_tar(entries);
    write_file(tmp / "app.tgz", tar);
    write_file(tmp / "m.yml", "src: " + file_url(tmp / "app.tgz") + "\nchecksum: " +
                                  (checksum.empty() ? sha256_hex(tar) : checksum) + "\ndest: " + dest.string() +
                                  "\n" + more);
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

TEST_F(Stages, ASyncPlacementChangesDestOnlyAtCommitAndLeavesItsRecordAndNoJournal) {
  request.manifest_url = publish({dir_entry("app"), file_entry("app/a.rb", "puts 1"), file_entry("index.html", "v1")});
  DeployContext ctx = context();
  ASSERT_EQ(take_in_manifest(ctx), Intake::deploy);
  fs::create_directories(dest.parent_path());
  auto placement = sync_placement(ctx, dest);
  ASSERT_TRUE(placement->stage());
  EXPECT_TRUE(DeployJournal::beside(dest).read());  // held from the start
  placement->prepare();
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_EQ(ctx.dest_state, DeployContext::DestState::untouched);
  placement->commit();
  EXPECT_EQ(ctx.dest_state, DeployContext::DestState::placed);
  EXPECT_EQ(read_file(dest / "app/a.rb"), "puts 1");
  EXPECT_FALSE(placement->can_undo());  // so the engine runs no verify
  placement->settle();
  placement.reset();
  EXPECT_FALSE(DeployJournal::beside(dest).read());
  const TreeRecord record = TreeRecord::load(TreeRecord::beside(dest));
  EXPECT_EQ(record.manifest_url, request.manifest_url);
  EXPECT_EQ(record.entries().size(), 3u);
  EXPECT_FALSE(check_drift(dest, record).drifted());
}

TEST_F(Stages, AReleasePlacementFailingBeforeCommitKeepsCurrentAndAfterItSwitchesBack) {
  const auto deploy_release = [&](const std::string& id, const std::string& content, int fail_at) {
    request.manifest_url =
        publish({file_entry("index.html", content)}, "", "sync_strategy: release\nrelease: " + id + "\n");
    DeployContext ctx = context();
    EXPECT_EQ(take_in_manifest(ctx), Intake::deploy);
    auto placement = release_placement(ctx, dest);
    EXPECT_TRUE(placement->stage());
    EXPECT_TRUE(placement->can_undo());
    placement->prepare();  // committed as releases/<id>, not live
    EXPECT_TRUE(fs::exists(dest / "releases" / id / "index.html"));
    if (fail_at == 1) return placement->fail("pre failed");
    placement->commit();
    if (fail_at == 2) return placement->fail("post failed");
    placement->settle();
  };
  deploy_release("r1", "v1", 0);
  ReleaseStore store(dest);
  EXPECT_EQ(store.current_id(), "r1");
  EXPECT_EQ(store.meta("r1")->result, "success");

  deploy_release("r2", "v2", 1);
  EXPECT_EQ(store.current_id(), "r1");
  EXPECT_EQ(store.meta("r2")->result, "failure");  // never a rollback target

  deploy_release("r3", "v3", 2);
  EXPECT_EQ(store.current_id(), "r1");  // switched back
  EXPECT_EQ(store.meta("r3")->result, "failure");
  EXPECT_EQ(read_file(dest / "current/index.html"), "v1");
  EXPECT_FALSE(DeployJournal(dest).read());
}
