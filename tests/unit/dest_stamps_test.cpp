// SPDX-License-Identifier: Apache-2.0
// Dest's stamps, below the binary: a stamp holds while its file's inode is
// untouched and stops holding at any change — even one that puts size and
// mtime back — and a stamps file that is not whole is no stamps at all.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "delta/dest_stamps.hpp"
#include "test_support.hpp"

using namespace haul;
using namespace haul::test;

namespace {

const std::string kChunks(64, 'a'), kContent(32, 'c');

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
  return st;
}

// What no window can rule out: the system clock set back mid-deploy (NTP
// stepping it on a fresh machine), after which a written file's ctime may
// fall before the window's start. Its stamp is then missed — safe, the file
// is read — and a test that expects it to hold does not. Setting the clock
// moves CLOCK_REALTIME against CLOCK_MONOTONIC; ticks and slewing never do.
class SystemClockWatch {
 public:
  SystemClockWatch() : at_start_(offset()) {}
  bool was_set() const {
    const Offset now = offset();
    return now.high < at_start_.low || at_start_.high < now.low;
  }

 private:
  struct Offset {
    int64_t low, high;  // realtime - monotonic lies between, whatever ran between the reads
  };
  static int64_t ns(clockid_t clock) {
    struct timespec t {};
    clock_gettime(clock, &t);
    return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
  }
  static Offset offset() {
    const int64_t mono_before = ns(CLOCK_MONOTONIC), real = ns(CLOCK_REALTIME), mono_after = ns(CLOCK_MONOTONIC);
    return {real - mono_after, real - mono_before};
  }
  Offset at_start_;
};

}  // namespace

TEST(DestStamps, AStampHoldsUntilItsFileIsTouchedEvenWithSizeAndMtimePutBack) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  write_file(dest / "kept.rb", "kept\n");
  write_file(dest / "other.rb", "other\n");
  const SystemClockWatch clock;
  DestStampsWriter w(dest);
  w.start(3);
  // Written by the sync at once: start() returned only once the
  // filesystem's clock had moved past the window's start.
  write_file(dest / "lib/written.rb", "written by the sync\n");
  const auto mtime = [&](const char* f) { return static_cast<int64_t>(stat_of(dest / f).st_mtim.tv_sec); };
  const InodeStamp kept = InodeStamp::of(stat_of(dest / "kept.rb"));
  w.add("kept.rb", kChunks, kContent, 5, mtime("kept.rb"), &kept);
  w.add("lib/written.rb", kChunks, kContent, 20, mtime("lib/written.rb"), nullptr);
  // Not written by this deploy: an excluded path's own copy, older than the deploy.
  w.add("other.rb", kChunks, kContent, 6, mtime("other.rb"), nullptr);
  w.write();

  const DestStamps stamps = DestStamps::load(dest);
  EXPECT_EQ(stamps.size(), 3u);
  struct stat st {};
  const auto s = stamps.unchanged(dest, "kept.rb", kChunks, 5, mtime("kept.rb"), st);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->content, kContent);
  EXPECT_TRUE(InodeStamp::of(st) == s->inode);
  const auto written = stamps.unchanged(dest, "lib/written.rb", kChunks, 20, mtime("lib/written.rb"), st);
  if (clock.was_set()) GTEST_SKIP() << "the system clock was set during the test: written files are read again";
  ASSERT_TRUE(written);
  EXPECT_TRUE(written->written);
  EXPECT_TRUE(written->inode == InodeStamp::of(stat_of(dest / "lib/written.rb")));  // as stat sees it now
  EXPECT_FALSE(stamps.unchanged(dest, "other.rb", kChunks, 6, mtime("other.rb"), st));
  // Other chunks, another size or mtime second: the release wants another file.
  EXPECT_FALSE(stamps.unchanged(dest, "kept.rb", std::string(64, 'b'), 5, mtime("kept.rb"), st));
  EXPECT_FALSE(stamps.unchanged(dest, "kept.rb", kChunks, 6, mtime("kept.rb"), st));
  EXPECT_FALSE(stamps.unchanged(dest, "lib/written.rb", kChunks, 21, mtime("lib/written.rb"), st));
  EXPECT_FALSE(stamps.unchanged(dest, "lib/written.rb", kChunks, 20, mtime("lib/written.rb") + 1, st));

  // Rewritten with the same size and its mtime put back: ctime moved.
  for (const char* f : {"kept.rb", "lib/written.rb"}) {
    const auto old_mtime = fs::last_write_time(dest / f);
    const std::string before = read_file(dest / f);
    write_file(dest / f, std::string(before.size(), 'X'));
    fs::last_write_time(dest / f, old_mtime);
    EXPECT_FALSE(stamps.unchanged(dest, f, kChunks, before.size(), mtime(f), st)) << f;
  }
  // A chmod is a touch too, and so is a rename over the file.
  write_file(dest / "lib/again.rb", "again\n");
  DestStampsWriter w2(dest);
  w2.start(1);
  write_file(dest / "lib/again.rb", "again\n");
  w2.add("lib/again.rb", kChunks, kContent, 6, mtime("lib/again.rb"), nullptr);
  write_file(dest / "lib/twin.rb", "again\n");
  fs::last_write_time(dest / "lib/twin.rb", fs::last_write_time(dest / "lib/again.rb"));
  w2.write();
  const DestStamps again = DestStamps::load(dest);
  if (clock.was_set()) GTEST_SKIP() << "the system clock was set during the test: written files are read again";
  ASSERT_TRUE(again.unchanged(dest, "lib/again.rb", kChunks, 6, mtime("lib/again.rb"), st));
  fs::rename(dest / "lib/twin.rb", dest / "lib/again.rb");  // written in the window, moved in after it
  EXPECT_FALSE(again.unchanged(dest, "lib/again.rb", kChunks, 6, mtime("lib/again.rb"), st));
  write_file(dest / "lib/again.rb", "again\n");
  fs::permissions(dest / "lib/again.rb", fs::perms::owner_read);
  EXPECT_FALSE(again.unchanged(dest, "lib/again.rb", kChunks, 6, mtime("lib/again.rb"), st));
}

// On a filesystem with multigrain timestamps (ext4, xfs, btrfs, tmpfs since
// Linux 6.13) a change to a file that stat looked at since its last change
// takes the fine clock's time, up to a tick ahead of the coarse clock and
// often past its next tick. Such a ctime still falls on its side of the
// window, every round: a file changed so just before the start is not the
// deploy's, one the sync wrote so just before the end is.
TEST(DestStamps, AFineGrainedCtimeFallsOnItsSideOfTheWindowEveryTime) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  const auto change_looked_at = [&](const char* f) {
    write_file(dest / f, "x\n");
    stat_of(dest / f);
    write_file(dest / f, "y\n");
    return static_cast<int64_t>(stat_of(dest / f).st_mtim.tv_sec);
  };
  for (int round = 0; round < 50; ++round) {
    const int64_t before_mtime = change_looked_at("before.rb");
    const SystemClockWatch clock;
    DestStampsWriter w(dest);
    w.start(2);
    w.add("before.rb", kChunks, kContent, 2, before_mtime, nullptr);
    w.add("during.rb", kChunks, kContent, 2, change_looked_at("during.rb"), nullptr);
    w.write();
    const DestStamps stamps = DestStamps::load(dest);
    struct stat st {};
    EXPECT_FALSE(stamps.unchanged(dest, "before.rb", kChunks, 2, before_mtime, st)) << "round " << round;
    EXPECT_TRUE(clock.was_set() || stamps.unchanged(dest, "during.rb", kChunks, 2,
                                                    static_cast<int64_t>(stat_of(dest / "during.rb").st_mtim.tv_sec), st))
        << "round " << round;
  }
}

// The window's edges are the filesystem's own clock, read off a probe
// beside dest, so they hold on any granularity: a change just before the
// start or just after the end — in the very tick of the probe's reading —
// is never the deploy's, and a write just after the start or just before
// the end always is (start and write wait for the clock to move past the
// probe). No round depends on where a tick falls.
TEST(DestStamps, TheWindowsEdgesHoldInTheProbesOwnTick) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  const auto mtime = [&](const char* f) { return static_cast<int64_t>(stat_of(dest / f).st_mtim.tv_sec); };
  for (int round = 0; round < 50; ++round) {
    write_file(dest / "before.rb", "b\n");
    const SystemClockWatch clock;
    DestStampsWriter w(dest);
    w.start(4);
    write_file(dest / "first.rb", "f\n");
    write_file(dest / "after.rb", "a\n");
    write_file(dest / "last.rb", "l\n");
    for (const char* f : {"before.rb", "first.rb", "after.rb", "last.rb"})
      w.add(f, kChunks, kContent, 2, mtime(f), nullptr);
    w.write();
    const auto old_mtime = fs::last_write_time(dest / "after.rb");
    write_file(dest / "after.rb", "A\n");  // the same size, its mtime put back, right after the end
    fs::last_write_time(dest / "after.rb", old_mtime);

    const DestStamps stamps = DestStamps::load(dest);
    struct stat st {};
    EXPECT_FALSE(stamps.unchanged(dest, "before.rb", kChunks, 2, mtime("before.rb"), st)) << "round " << round;
    EXPECT_TRUE(clock.was_set() || stamps.unchanged(dest, "first.rb", kChunks, 2, mtime("first.rb"), st)) << "round " << round;
    EXPECT_TRUE(clock.was_set() || stamps.unchanged(dest, "last.rb", kChunks, 2, mtime("last.rb"), st)) << "round " << round;
    EXPECT_FALSE(stamps.unchanged(dest, "after.rb", kChunks, 2, mtime("after.rb"), st)) << "round " << round;
  }
}

// A filesystem clock found behind the window's end at the next deploy was
// set back since: a change made meanwhile could carry a ctime inside the
// window, so no written stamp holds. A kept file's stamp (its exact ctime)
// still does.
TEST(DestStamps, AClockSetBackSinceTheWindowHoldsNoWrittenStamp) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  write_file(dest / "kept.rb", "kept\n");
  const InodeStamp kept = InodeStamp::of(stat_of(dest / "kept.rb"));
  const SystemClockWatch clock;
  DestStampsWriter w(dest);
  w.start(2);
  ASSERT_NE(w.clock_at_start(), nullptr);
  const struct timespec at_start = *w.clock_at_start();
  write_file(dest / "written.rb", "written\n");
  const int64_t kept_mtime = static_cast<int64_t>(kept.mtime.tv_sec);
  const int64_t written_mtime = static_cast<int64_t>(stat_of(dest / "written.rb").st_mtim.tv_sec);
  w.add("kept.rb", kChunks, kContent, 5, kept_mtime, &kept);
  w.add("written.rb", kChunks, kContent, 8, written_mtime, nullptr);
  w.write();

  struct stat st {};
  DestStampsWriter next(dest);  // the next deploy's start: the clock has moved on
  next.start(0);
  ASSERT_NE(next.clock_at_start(), nullptr);
  const DestStamps later = DestStamps::load(dest, next.clock_at_start());
  EXPECT_TRUE(clock.was_set() || later.unchanged(dest, "written.rb", kChunks, 8, written_mtime, st));
  EXPECT_TRUE(later.unchanged(dest, "kept.rb", kChunks, 5, kept_mtime, st));

  const DestStamps set_back = DestStamps::load(dest, &at_start);  // as if the clock read the start again
  EXPECT_FALSE(set_back.unchanged(dest, "written.rb", kChunks, 8, written_mtime, st));
  EXPECT_TRUE(set_back.unchanged(dest, "kept.rb", kChunks, 5, kept_mtime, st));
}

// The probe is a file of the writer's own, unlinked at once: nothing is
// left beside dest but the stamps file.
TEST(DestStamps, TheClockProbeLeavesNothingBesideDest) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  write_file(dest / "a.rb", "a\n");
  {
    DestStampsWriter w(dest);
    w.start(1);
    w.add("a.rb", kChunks, kContent, 2, static_cast<int64_t>(stat_of(dest / "a.rb").st_mtim.tv_sec), nullptr);
    w.write();
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".haul-app.stamps", "app"}));
}

TEST(DestStamps, AStampsFileThatIsNotWholeIsNoStamps) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  for (int i = 0; i < 50; ++i) write_file(dest / ("f" + std::to_string(i)), "x");
  DestStampsWriter w(dest);
  w.start(50);
  for (int i = 0; i < 50; ++i) {
    const InodeStamp s = InodeStamp::of(stat_of(dest / ("f" + std::to_string(i))));
    w.add("f" + std::to_string(i), kChunks, kContent, 1, static_cast<int64_t>(s.mtime.tv_sec), &s);
  }
  w.write();
  const fs::path file = DestStamps::beside(dest);
  EXPECT_EQ(file, tmp / ".haul-app.stamps");
  const std::string whole = read_file(file);
  EXPECT_EQ(DestStamps::load(dest).size(), 50u);
  EXPECT_EQ(DestStamps::load(dest).unusable(), "");
  write_file(file, whole.substr(0, whole.size() - 20));  // torn: no end line
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  EXPECT_EQ(DestStamps::load(dest).unusable(), "torn, or not a stamps file");
  write_file(file, whole + "more\n");  // something after the end
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  write_file(file, "haul-dest-stamps 1\n" + whole.substr(whole.find('\n') + 1));  // another version
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  EXPECT_EQ(DestStamps::load(dest).unusable(), "written by another version of haul (haul-dest-stamps 1)");
  const size_t window = whole.find("\nwindow ") + 1;  // no window: no stamps
  write_file(file, whole.substr(0, window) + whole.substr(whole.find('\n', window) + 1));
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  std::string unknown = whole;  // a line neither kept nor written
  unknown.replace(unknown.find(" k "), 3, " x ");
  write_file(file, unknown);
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  fs::remove(file);
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  EXPECT_EQ(DestStamps::load(dest).unusable(), "");  // none is not a fault

  // A deploy that collected nothing (a tarball's) leaves the file alone.
  write_file(file, whole);
  DestStampsWriter idle(dest);
  idle.write();
  EXPECT_EQ(read_file(file), whole);
}
