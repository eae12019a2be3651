// SPDX-License-Identifier: Apache-2.0
#include "config/exclude_rules.hpp"

#include <gtest/gtest.h>

using namespace haul;

TEST(Glob, StarStopsAtSlashDoubleStarDoesNot) {
  EXPECT_TRUE(glob_match("*.pid", "app.pid"));
  EXPECT_FALSE(glob_match("*.pid", "run/app.pid"));
  EXPECT_TRUE(glob_match("**.pid", "run/app.pid"));
  EXPECT_TRUE(glob_match("log/**", "log/a/b.log"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "a/c"));
  EXPECT_TRUE(glob_match("[a-c]x", "bx"));
  EXPECT_FALSE(glob_match("[!a-c]x", "bx"));
  EXPECT_TRUE(glob_match("\\*", "*"));
}

TEST(ExcludeRules, NameWithoutSlashMatchesAtAnyDepth) {
  ExcludeRules r;
  r.exclude("*.pid");
  EXPECT_TRUE(r.excluded("test.pid", false));
  EXPECT_TRUE(r.excluded("tmp/pids/web.pid", false));
  EXPECT_FALSE(r.excluded("pid.txt", false));
}

TEST(ExcludeRules, TrailingSlashMatchesDirectoriesOnly) {
  ExcludeRules r;
  r.exclude("tmp/");
  EXPECT_TRUE(r.excluded("tmp", true));
  EXPECT_TRUE(r.excluded("a/tmp", true));
  EXPECT_FALSE(r.excluded("tmp", false));
}

TEST(ExcludeRules, LeadingSlashAnchorsToTheTop) {
  ExcludeRules r;
  r.exclude("/config/local.yml");
  EXPECT_TRUE(r.excluded("config/local.yml", false));
  EXPECT_FALSE(r.excluded("vendor/config/local.yml", false));
}

TEST(ExcludeRules, SlashInsideMatchesPathEnds) {
  ExcludeRules r;
  r.exclude("log/*.log");
  EXPECT_TRUE(r.excluded("log/a.log", false));
  EXPECT_TRUE(r.excluded("x/log/a.log", false));
  EXPECT_FALSE(r.excluded("xlog/a.log", false));
}

TEST(ExcludeRules, TripleStarIsDirAndContents) {
  ExcludeRules r;
  r.exclude("cache/***");
  EXPECT_TRUE(r.excluded("cache", true));
  EXPECT_TRUE(r.excluded("cache/a/b", false));
}

TEST(ExcludeRules, FileLinesWithIncludesFirstMatchWins) {
  ExcludeRules r;
  r.add_line("# comment");
  r.add_line("; another");
  r.add_line("");
  r.add_line("+ keep.log");
  r.add_line("- *.log");
  r.add_line("*.tmp\r");
  EXPECT_FALSE(r.excluded("keep.log", false));
  EXPECT_TRUE(r.excluded("drop.log", false));
  EXPECT_TRUE(r.excluded("a.tmp", false));
  EXPECT_FALSE(r.excluded("# comment", false));
}
