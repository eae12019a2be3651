// SPDX-License-Identifier: Apache-2.0
#include "sync/kept_files.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace haul;

// Entries arrive in archive order, which is mostly but not always sorted;
// lookups in between must see everything added so far.
TEST(KeptFiles, FindsPathsAddedInAnyOrderBetweenLookups) {
  KeptFiles kept;
  kept.add("b/x", {20, 0});
  kept.add("a", {10, 0});
  EXPECT_TRUE(kept.contains("a"));
  EXPECT_FALSE(kept.contains("b"));
  kept.add("a/y", {30, 5});
  kept.add("0-first", {40, 0});
  EXPECT_TRUE(kept.contains("a/y"));
  EXPECT_TRUE(kept.contains("0-first"));
  EXPECT_TRUE(kept.contains("b/x"));
  EXPECT_FALSE(kept.contains("a/"));
  ASSERT_NE(kept.mtime("a/y"), nullptr);
  EXPECT_EQ(kept.mtime("a/y")->tv_sec, 30);
  EXPECT_EQ(kept.mtime("a/y")->tv_nsec, 5);
  EXPECT_EQ(kept.size(), 4u);
}

TEST(KeptFiles, AttributesOnlyForEntriesThatNeedThem) {
  KeptFiles kept;
  kept.add("same", {1, 0});
  struct stat want {};
  want.st_mode = S_IFREG | 0600;
  want.st_mtim = {2, 0};
  kept.add_with_attributes("chmod-me", want);
  EXPECT_EQ(kept.attributes("same"), nullptr);
  ASSERT_NE(kept.attributes("chmod-me"), nullptr);
  EXPECT_EQ(kept.attributes("chmod-me")->st_mode & 07777, 0600u);
  EXPECT_TRUE(kept.contains("chmod-me"));
  kept.clear();
  EXPECT_FALSE(kept.contains("same"));
  EXPECT_EQ(kept.size(), 0u);
}

// Paths span many 64 KiB arena blocks; every one must come back intact.
TEST(KeptFiles, HoldsTensOfThousandsOfLongPaths) {
  KeptFiles kept;
  auto path = [](int i) { return "vendor/bundle/ruby/3.2.0/gems/gem-" + std::to_string(i) + "/lib/file.rb"; };
  for (int i = 0; i < 30000; ++i) kept.add(path(i), {i, 0});
  for (int i = 0; i < 30000; i += 997) {
    ASSERT_TRUE(kept.contains(path(i))) << path(i);
    EXPECT_EQ(kept.mtime(path(i))->tv_sec, i);
  }
  EXPECT_FALSE(kept.contains(path(30000)));
}
