// SPDX-License-Identifier: Apache-2.0
#include "delta/dest_stamps.hpp"

#include <fcntl.h>

#include <algorithm>
#include <charconv>
#include <fstream>

#include "util/beside_dest.hpp"
#include "util/durable_file.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

// Version 2: a written file's stamp is the deploy's window (version 1's,
// stat'ed after the sync, are read again once).
constexpr std::string_view kHeader = "haul-dest-stamps 2\n";

struct timespec coarse_now() {
  struct timespec t {};
  clock_gettime(CLOCK_REALTIME_COARSE, &t);
  return t;
}

bool before(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

// An edge of a deploy's window: past every ctime the kernel gave before the
// call, and not past any it gives from the return on. A ctime is the coarse
// clock's tick, but not only: on a filesystem with multigrain timestamps
// (ext4, xfs, btrfs, tmpfs since Linux 6.13) a change to an inode that stat
// looked at since its last change takes the fine clock, and every change
// after that at least the same (the kernel's floor), so ctimes run up to a
// tick ahead of CLOCK_REALTIME_COARSE — past the coarse clock's next tick
// when the change came late in its tick. Still, a ctime is never past the
// fine clock when it is given nor before the coarse clock: the first tick
// of the coarse clock past the fine clock's now is the edge. Waits a tick
// or two (a few ms); a clock set back meanwhile starts the wait over.
struct timespec window_edge() {
  for (;;) {
    struct timespec fine {};
    clock_gettime(CLOCK_REALTIME, &fine);
    struct timespec tick = coarse_now();
    while (!before(fine, tick)) {
      const struct timespec ms{0, 1'000'000};
      nanosleep(&ms, nullptr);
      const struct timespec next = coarse_now();
      if (before(next, tick)) break;
      tick = next;
    }
    if (before(fine, tick)) return tick;
  }
}

// Fields of a stamps line, in order.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : rest_(line) {}
  bool word(std::string_view& out) {
    const size_t space = rest_.find(' ');
    if (space == std::string_view::npos || space == 0) return false;
    out = rest_.substr(0, space);
    rest_.remove_prefix(space + 1);
    return true;
  }
  template <typename T>
  bool number(T& out) {
    std::string_view w;
    if (!word(w)) return false;
    const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), out);
    return ec == std::errc() && end == w.data() + w.size();
  }
  bool time(struct timespec& out) {
    int64_t sec = 0;
    long nsec = 0;
    if (!number(sec) || !number(nsec)) return false;
    out = {static_cast<time_t>(sec), nsec};
    return true;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

template <typename T>
void put_number(std::string& out, T value) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
  out += ' ';
}

}  // namespace

fs::path DestStamps::beside(const fs::path& dest) { return beside_dest(dest, "stamps"); }

DestStamps DestStamps::load(const fs::path& dest) {
  std::ifstream in(beside(dest), std::ios::binary | std::ios::ate);
  if (!in) return {};
  DestStamps stamps;
  stamps.text_ = std::make_unique<std::string>(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0);
  const bool read = static_cast<bool>(in.read(stamps.text_->data(), static_cast<std::streamsize>(stamps.text_->size())));
  if (read && stamps.parse()) return stamps;
  DestStamps none;
  const std::string_view text = *stamps.text_;
  const std::string_view first = text.substr(0, std::min(text.find('\n'), size_t{40}));
  none.unusable_ = read && first.substr(0, 17) == "haul-dest-stamps " && text.substr(0, kHeader.size()) != kHeader
                       ? "written by another version of haul (" + std::string(first) + ")"
                       : "torn, or not a stamps file";
  return none;
}

bool DestStamps::parse() {
  std::string_view text = *text_;
  if (text.substr(0, kHeader.size()) != kHeader) return false;
  text.remove_prefix(kHeader.size());
  {
    const size_t eol = text.find('\n');
    if (eol == std::string_view::npos) return false;
    LineReader r(text.substr(0, eol));  // "window <from s> <ns> <to s> <ns> "
    std::string_view word;
    if (!r.word(word) || word != "window" || !r.time(window_from_) || !r.time(window_to_) ||
        !r.rest().empty())
      return false;
    text.remove_prefix(eol + 1);
  }
  files_.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')));
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    if (eol == std::string_view::npos) break;
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (line.substr(0, 4) == "end ") {
      size_t count = 0;
      const auto [end, ec] = std::from_chars(line.data() + 4, line.data() + line.size(), count);
      const bool whole = ec == std::errc() && end == line.data() + line.size() && count == files_.size() &&
                         text.empty() &&
                         std::is_sorted(files_.begin(), files_.end(),
                                        [](const FileStamp& a, const FileStamp& b) { return a.path < b.path; });
      return whole;
    }
    LineReader r(line);
    FileStamp s;
    std::string_view how;
    if (!r.word(s.chunks) || !r.word(s.content) || !r.word(how)) break;
    if (how == "k") {
      if (!r.number(s.inode.dev) || !r.number(s.inode.ino) || !r.number(s.inode.size) || !r.time(s.inode.mtime) ||
          !r.time(s.inode.ctime))
        break;
    } else if (how == "w") {
      s.written = true;
      if (!r.number(s.inode.size) || !r.number(s.inode.mtime.tv_sec)) break;
    } else {
      break;
    }
    if (r.rest().empty()) break;
    s.path = r.rest();
    files_.push_back(s);
  }
  return false;  // no end line, or a line that is not a stamp: torn, or not ours
}

std::optional<FileStamp> DestStamps::unchanged(const fs::path& dest, std::string_view rel, std::string_view chunks,
                                               uint64_t size, int64_t mtime_sec, struct stat& st) const {
  const auto it = std::lower_bound(files_.begin(), files_.end(), rel,
                                   [](const FileStamp& s, std::string_view p) { return s.path < p; });
  if (it == files_.end() || it->path != rel) return std::nullopt;
  if (it->chunks != chunks || it->inode.size != size || it->inode.mtime.tv_sec != mtime_sec) return std::nullopt;
  std::string path = dest.native();
  path += '/';
  path += rel;
  if (fstatat(AT_FDCWD, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const InodeStamp now = InodeStamp::of(st);
  if (it->written ? now.size != size || now.mtime.tv_sec != mtime_sec || before(now.ctime, window_from_) ||
                        !before(now.ctime, window_to_)
                  : !(now == it->inode))
    return std::nullopt;
  FileStamp found = *it;
  found.inode = now;
  return found;
}

void DestStampsWriter::start(size_t files) {
  std::lock_guard<std::mutex> lock(mu_);
  started_ = true;
  // Not the fine clock's now: a file this deploy writes in the start's own
  // tick could have an older ctime and go unstamped. Not the coarse clock's
  // next tick: a file changed just before the start could have a newer one
  // and pass for this deploy's.
  started_at_ = window_edge();
  files_.clear();
  files_.reserve(files);
}

void DestStampsWriter::add(std::string_view rel, std::string chunks, std::string_view content, uint64_t size,
                           int64_t mtime_sec, const InodeStamp* kept_as) {
  Pending p;
  p.path.assign(rel);
  p.chunks = std::move(chunks);
  if (content.size() != sizeof p.content.hex) return;
  std::copy(content.begin(), content.end(), p.content.hex);
  p.kept = kept_as != nullptr;
  if (kept_as) {
    p.inode = *kept_as;
  } else {
    p.inode.size = size;
    p.inode.mtime.tv_sec = static_cast<time_t>(mtime_sec);
  }
  std::lock_guard<std::mutex> lock(mu_);
  files_.push_back(std::move(p));
}

void DestStampsWriter::write(const fs::path& dest) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) return;
  // Past the sync's last write: a file the sync wrote has an older ctime
  // than the window's end, and any later change a newer or equal one.
  const struct timespec since = window_edge();
  // Added from two threads (in path order when the feed left nothing out); the stamps file is in path order.
  const auto by_path = [](const Pending& a, const Pending& b) { return a.path < b.path; };
  if (!std::is_sorted(files_.begin(), files_.end(), by_path)) std::sort(files_.begin(), files_.end(), by_path);
  std::string out(kHeader);
  out.reserve(files_.size() * 200);
  out += "window ";
  put_number(out, static_cast<int64_t>(started_at_.tv_sec));
  put_number(out, started_at_.tv_nsec);
  put_number(out, static_cast<int64_t>(since.tv_sec));
  put_number(out, since.tv_nsec);
  out += '\n';
  size_t count = 0;
  for (const Pending& p : files_) {
    if (p.path.find('\n') != std::string::npos) continue;
    const InodeStamp& inode = p.inode;
    out += p.chunks;
    out += ' ';
    out.append(p.content.view());
    if (p.kept) {
      out += " k ";
      put_number(out, inode.dev);
      put_number(out, inode.ino);
      put_number(out, inode.size);
      put_number(out, static_cast<int64_t>(inode.mtime.tv_sec));
      put_number(out, inode.mtime.tv_nsec);
      put_number(out, static_cast<int64_t>(inode.ctime.tv_sec));
      put_number(out, inode.ctime.tv_nsec);
    } else {
      out += " w ";
      put_number(out, inode.size);
      put_number(out, static_cast<int64_t>(inode.mtime.tv_sec));
    }
    out += p.path;
    out += '\n';
    ++count;
  }
  out += "end " + std::to_string(count) + "\n";
  // Not fsync'ed: after a crash a torn file (no end line) is no stamps, and every file is read.
  write_file_atomically(DestStamps::beside(dest), out);
}

}  // namespace haul
