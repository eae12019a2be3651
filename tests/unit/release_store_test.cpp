// SPDX-License-Identifier: Apache-2.0
// ReleaseStore on a real folder: releases committed and switched atomically,
// results recorded in place, retention that never takes current or the
// release a rollback would need, and what an interrupted deploy leaves.
#include "release/release_store.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"
#include "util/error.hpp"

using namespace haul;
using namespace haul::test;

namespace {

struct Store : ::testing::Test {
  TempDir tmp;
  ReleaseStore store{tmp / "app"};

  // A release committed with its metadata, as a deploy leaves it before the switch.
  void add(const std::string& id, const std::string& result, int64_t created) {
    const fs::path staging = store.new_staging(id);
    write_file(staging / "index.html", id);
    ReleaseMeta m;
    m.id = id;
    m.created_unix = created;
    m.result = result;
    m.manifest = "src: x\n";
    store.save_meta(m);
    store.commit(staging, id);
  }
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const auto& r : store.list()) out.push_back(r.id + ":" + r.result);
    return out;
  }
};

}  // namespace

TEST_F(Store, SwitchPointsCurrentAtTheRelease) {
  add("v1", "success", 100);
  add("v2", "deploying", 200);
  EXPECT_FALSE(store.current_id());
  store.switch_to("v1");
  EXPECT_EQ(store.current_id(), "v1");
  store.switch_to("v2");
  EXPECT_EQ(store.current_id(), "v2");
  EXPECT_EQ(read_file(store.current_link() / "index.html"), "v2");
  store.set_result("v2", "success");
  EXPECT_EQ(ids(), (std::vector<std::string>{"v2:success", "v1:success"}));  // newest first
}

TEST_F(Store, UniqueIdNeverReusesAFolder) {
  add("v1", "success", 100);
  EXPECT_EQ(store.unique_id("v1"), "v1-2");
  EXPECT_EQ(store.unique_id("v9"), "v9");
}

TEST_F(Store, PreviousGoodSkipsFailedAndRolledBackReleases) {
  add("v1", "success", 100);
  add("v2", "failure", 200);
  add("v3", "rolled-back", 300);
  add("v4", "success", 400);
  EXPECT_EQ(ReleaseStore::previous_good(store.list(), std::string("v4")), "v1");
  EXPECT_FALSE(ReleaseStore::previous_good(store.list(), std::string("v1")));
}

TEST_F(Store, PruneKeepsCurrentAndItsRollbackTargetAndTakesFailuresFirst) {
  add("v1", "success", 100);
  add("v2", "success", 200);
  add("v3", "failure", 300);
  add("v4", "success", 400);
  store.switch_to("v4");
  const auto removed = store.prune(2);
  EXPECT_EQ(ids(), (std::vector<std::string>{"v4:success", "v2:success"}));
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_FALSE(fs::exists(store.release_dir("v3")));
  EXPECT_FALSE(store.meta("v1"));
  EXPECT_FALSE(fs::exists(store.tree_path("v1")));
}

// A good release outlives the copies that failed after it, and one an
// operator rolled back from (it may be wanted again) outlives failures.
TEST_F(Store, PruneTakesFailuresThenRolledBackThenTheOldestGood) {
  add("v1", "success", 100);
  add("v2", "rolled-back", 200);
  add("v3", "success", 300);
  add("v4", "failure", 400);
  add("v5", "interrupted", 500);
  add("v6", "failure", 600);
  add("v7", "success", 700);
  store.switch_to("v7");
  store.prune(4);
  EXPECT_EQ(ids(), (std::vector<std::string>{"v7:success", "v3:success", "v2:rolled-back", "v1:success"}));
  store.prune(2);
  EXPECT_EQ(ids(), (std::vector<std::string>{"v7:success", "v3:success"}));
}

TEST_F(Store, LeftoversOfAnInterruptedDeployAreRemoved) {
  add("v1", "success", 100);
  store.switch_to("v1");
  const fs::path staging = store.new_staging("v2");
  write_file(staging / "half", "written");
  add("v0", "pruning", 50);  // a prune cut short
  write_file(store.tree_path("v2").string() + ".new", "haul-tree 1\n");  // its record, half written
  const auto removed = store.remove_leftovers();
  EXPECT_EQ(removed.size(), 3u);
  EXPECT_FALSE(fs::exists(store.tree_path("v2").string() + ".new"));
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_FALSE(fs::exists(store.release_dir("v0")));
  EXPECT_EQ(ids(), (std::vector<std::string>{"v1:success"}));
}

TEST_F(Store, AReleaseLeftDeployingIsRecordedInterruptedAndRecordsWithoutAFolderGo) {
  add("v1", "success", 100);
  store.switch_to("v1");
  add("v2", "deploying", 200);  // committed; its deploy was killed before the switch
  add("v5", "deploying", 500);  // the same, with no result record (only its metadata says "deploying")
  fs::remove(tmp / "app/.haul/releases/v5.result");
  ReleaseMeta m;
  m.result = "deploying";
  m.id = "v3";  // killed between its metadata and its result record
  store.save_meta(m);
  fs::remove(tmp / "app/.haul/releases/v3.result");
  m.id = "v4";  // killed after its records, before the commit
  store.save_meta(m);
  write_file(store.tree_path("v4"), "haul-tree 1\n");
  EXPECT_EQ(store.mark_interrupted(), (std::vector<std::string>{"v2", "v5"}));
  EXPECT_EQ(store.remove_leftovers().size(), 4u);
  EXPECT_EQ(ids(), (std::vector<std::string>{"v5:interrupted", "v2:interrupted", "v1:success"}));
  for (const std::string id : {"v3", "v4"}) {
    EXPECT_FALSE(store.meta(id)) << id;
    EXPECT_FALSE(fs::exists(store.tree_path(id))) << id;
    EXPECT_FALSE(fs::exists(tmp / ("app/.haul/releases/" + id + ".result"))) << id;
  }
  EXPECT_TRUE(store.meta("v1"));
  EXPECT_TRUE(fs::exists(tmp / "app/.haul/releases/v5.result"));  // created, in place from now on
  EXPECT_TRUE(store.mark_interrupted().empty());
}

TEST_F(Store, AReleaseWithoutRecordsIsListedAsUnknown) {
  fs::create_directories(store.release_dir("hand-made"));
  EXPECT_EQ(ids(), (std::vector<std::string>{"hand-made:unknown"}));
}
