// SPDX-License-Identifier: Apache-2.0
#include "delta/dest_stamps.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "util/beside_dest.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

// Version 3: the window is read off the filesystem's clock, with the
// device it is on (version 2's, off the process's clocks, are read again once).
constexpr std::string_view kHeader = "haul-dest-stamps 3\n";

// How long an edge waits for the filesystem's clock to move: past a coarse
// tick (1-10 ms) and a loaded machine's scheduling; a clock of a second or
// two is not waited for (dest_stamps.hpp says why that is still safe).
constexpr auto kClockMoveWait = std::chrono::milliseconds(50);

bool before(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// A file of the writer's own beside dest: on the filesystem of staging and
// of dest's files, as the sync renames one into the other. Unlinked at
// once, as only its inode is wanted.
int open_probe(const fs::path& dest, std::string& error) {
  std::string name = beside_dest(dest, "clock-XXXXXX").string();
  const int fd = mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("cannot create the clock probe " + name);
    return -1;
  }
  unlink(name.c_str());
  return fd;
}

// The filesystem's clock now: the probe's ctime once touched (setting its
// times to now is a change like any other, and sets its ctime so).
bool touch(int fd, const fs::path& dest, struct stat& st, std::string& error) {
  if (futimens(fd, nullptr) == 0 && fstat(fd, &st) == 0) return true;
  error = errno_text("cannot touch the clock probe beside " + dest.string());
  return false;
}

enum class Moved { past, not_in_time, back };

// Touches the probe until its ctime moves past `clock`, and sets `clock` to
// that first later ctime. On a multigrain filesystem the second touch does
// (the fstat between made the kernel take the fine clock for it); on others
// it takes a coarse tick. A clock that has not moved within kClockMoveWait
// leaves `clock` as it was; one that went back says so.
std::optional<Moved> move_past(int fd, const fs::path& dest, struct timespec& clock, std::string& error) {
  const auto deadline = std::chrono::steady_clock::now() + kClockMoveWait;
  long pause_ns = 20'000;
  for (;;) {
    struct stat st {};
    if (!touch(fd, dest, st, error)) return std::nullopt;
    if (before(clock, st.st_ctim)) {
      clock = st.st_ctim;
      return Moved::past;
    }
    if (before(st.st_ctim, clock)) return Moved::back;
    if (std::chrono::steady_clock::now() >= deadline) return Moved::not_in_time;
    const struct timespec pause{0, pause_ns};
    nanosleep(&pause, nullptr);
    pause_ns = std::min(pause_ns * 2, 1'000'000L);
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

DestStamps DestStamps::load(const fs::path& dest, const struct timespec* fs_now) {
  std::ifstream in(beside(dest), std::ios::binary | std::ios::ate);
  if (!in) return {};
  DestStamps stamps;
  stamps.text_ = std::make_unique<std::string>(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0);
  const bool read = static_cast<bool>(in.read(stamps.text_->data(), static_cast<std::streamsize>(stamps.text_->size())));
  if (read && stamps.parse()) {
    stamps.clock_set_back_ = fs_now && before(*fs_now, stamps.window_to_);
    return stamps;
  }
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
    LineReader r(text.substr(0, eol));  // "window <dev> <from s> <ns> <to s> <ns> "
    std::string_view word;
    if (!r.word(word) || word != "window" || !r.number(window_dev_) || !r.time(window_from_) ||
        !r.time(window_to_) || !r.rest().empty())
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
  // Written: strictly inside the window, on the probe's filesystem (dest_stamps.hpp says why strictly).
  if (it->written ? clock_set_back_ || now.dev != window_dev_ || now.size != size || now.mtime.tv_sec != mtime_sec ||
                        !before(window_from_, now.ctime) || !before(now.ctime, window_to_)
                  : !(now == it->inode))
    return std::nullopt;
  FileStamp found = *it;
  found.inode = now;
  return found;
}

DestStampsWriter::~DestStampsWriter() {
  if (probe_fd_ >= 0) close(probe_fd_);
}

void DestStampsWriter::start(size_t files) {
  std::lock_guard<std::mutex> lock(mu_);
  started_ = true;
  files_.clear();
  files_.reserve(files);
  clock_went_back_ = false;
  if (probe_fd_ < 0) probe_fd_ = open_probe(dest_, probe_error_);
  struct stat st {};
  if (probe_fd_ >= 0 && touch(probe_fd_, dest_, st, probe_error_)) {
    // Every change before the start has a ctime <= started_at_; once the
    // clock has moved past it, every change of the deploy has a later one.
    started_at_ = st.st_ctim;
    probe_dev_ = static_cast<uint64_t>(st.st_dev);
    struct timespec moved = started_at_;
    const auto m = move_past(probe_fd_, dest_, moved, probe_error_);
    if (m) {
      clock_went_back_ = *m == Moved::back;
      return;
    }
  }
  if (probe_fd_ >= 0) close(probe_fd_);
  probe_fd_ = -1;  // write() says why
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

void DestStampsWriter::write() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) return;
  if (probe_fd_ < 0) throw Error(probe_error_);
  // The sync's writes have ctimes <= the probe's now; every change once the
  // clock has moved past that, one >= the moved ctime: the exclusive end.
  // Not moved in time: the probe's now, exclusive too. Set back during the
  // deploy: an empty window.
  struct stat st {};
  if (!touch(probe_fd_, dest_, st, probe_error_)) throw Error(probe_error_);
  struct timespec until = st.st_ctim;
  const auto moved = move_past(probe_fd_, dest_, until, probe_error_);
  if (!moved) throw Error(probe_error_);
  if (clock_went_back_ || *moved == Moved::back || before(until, started_at_)) until = started_at_;
  // Added from two threads (in path order when the feed left nothing out); the stamps file is in path order.
  const auto by_path = [](const Pending& a, const Pending& b) { return a.path < b.path; };
  if (!std::is_sorted(files_.begin(), files_.end(), by_path)) std::sort(files_.begin(), files_.end(), by_path);
  std::string out(kHeader);
  out.reserve(files_.size() * 200);
  out += "window ";
  put_number(out, probe_dev_);
  put_number(out, static_cast<int64_t>(started_at_.tv_sec));
  put_number(out, started_at_.tv_nsec);
  put_number(out, static_cast<int64_t>(until.tv_sec));
  put_number(out, until.tv_nsec);
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
  write_file_atomically(DestStamps::beside(dest_), out);
}

}  // namespace haul
