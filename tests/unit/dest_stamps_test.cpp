// Dest's stamps, below the binary: a stamp holds while its file's inode is
// untouched and stops holding at any change — even one that puts size and
// mtime back — and a stamps file that is not whole is no stamps at all.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>

#include "deploy/dest_stamps.hpp"
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

}  // namespace

TEST(DestStamps, AStampHoldsUntilItsFileIsTouchedEvenWithSizeAndMtimePutBack) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  write_file(dest / "kept.rb", "kept\n");
  write_file(dest / "other.rb", "other\n");
  DestStampsWriter w;
  w.start(3);
  // Written by the sync at once, in what may be the start's own tick.
  write_file(dest / "lib/written.rb", "written by the sync\n");
  const InodeStamp kept = InodeStamp::of(stat_of(dest / "kept.rb"));
  w.add("kept.rb", kChunks, kContent, &kept);
  w.add("lib/written.rb", kChunks, kContent, nullptr);
  w.add("other.rb", kChunks, kContent, nullptr);  // not written by this deploy: an excluded path's own copy
  w.write(dest);

  const DestStamps stamps = DestStamps::load(dest);
  EXPECT_EQ(stamps.size(), 2u);
  struct stat st {};
  const auto mtime = [&](const char* f) { return static_cast<int64_t>(stat_of(dest / f).st_mtim.tv_sec); };
  const FileStamp* s = stamps.unchanged(dest, "kept.rb", kChunks, 5, mtime("kept.rb"), st);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->content, kContent);
  EXPECT_NE(stamps.unchanged(dest, "lib/written.rb", kChunks, 20, mtime("lib/written.rb"), st), nullptr);
  EXPECT_EQ(stamps.unchanged(dest, "other.rb", kChunks, 6, mtime("other.rb"), st), nullptr);
  // Other chunks, another size or mtime second: the release wants another file.
  EXPECT_EQ(stamps.unchanged(dest, "kept.rb", std::string(64, 'b'), 5, mtime("kept.rb"), st), nullptr);
  EXPECT_EQ(stamps.unchanged(dest, "kept.rb", kChunks, 6, mtime("kept.rb"), st), nullptr);

  // Rewritten with the same size and its mtime put back: ctime moved.
  const auto old_mtime = fs::last_write_time(dest / "kept.rb");
  write_file(dest / "kept.rb", "KEPT\n");
  fs::last_write_time(dest / "kept.rb", old_mtime);
  EXPECT_EQ(stamps.unchanged(dest, "kept.rb", kChunks, 5, mtime("kept.rb"), st), nullptr);
  // A chmod is a touch too.
  fs::permissions(dest / "lib/written.rb", fs::perms::owner_read);
  EXPECT_EQ(stamps.unchanged(dest, "lib/written.rb", kChunks, 20, mtime("lib/written.rb"), st), nullptr);
}

TEST(DestStamps, AStampsFileThatIsNotWholeIsNoStamps) {
  TempDir tmp;
  const fs::path dest = tmp / "app";
  for (int i = 0; i < 50; ++i) write_file(dest / ("f" + std::to_string(i)), "x");
  DestStampsWriter w;
  w.start(50);
  for (int i = 0; i < 50; ++i) {
    const InodeStamp s = InodeStamp::of(stat_of(dest / ("f" + std::to_string(i))));
    w.add("f" + std::to_string(i), kChunks, kContent, &s);
  }
  w.write(dest);
  const fs::path file = DestStamps::beside(dest);
  EXPECT_EQ(file, tmp / ".haul-app.stamps");
  const std::string whole = read_file(file);
  EXPECT_EQ(DestStamps::load(dest).size(), 50u);
  write_file(file, whole.substr(0, whole.size() - 20));  // torn: no end line
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  write_file(file, whole + "more\n");  // something after the end
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  write_file(file, "haul-dest-stamps 2\n" + whole.substr(whole.find('\n') + 1));  // another version
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);
  fs::remove(file);
  EXPECT_EQ(DestStamps::load(dest).size(), 0u);

  // A deploy that collected nothing (a tarball's) leaves the file alone.
  write_file(file, whole);
  DestStampsWriter idle;
  idle.write(dest);
  EXPECT_EQ(read_file(file), whole);
}
