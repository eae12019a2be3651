#include "delta/chunk_feed.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <unordered_map>

#include "delta/chunk_name.hpp"
#include "delta/file_chunks.hpp"
#include "util/error.hpp"

namespace haul::delta {
namespace {

constexpr uint64_t kSegmentBytes = 8ull << 20;

class Fd {
 public:
  explicit Fd(const std::filesystem::path& path) : fd_(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool read_exactly(int fd, std::string& out, uint64_t offset) {
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

ChunkFeed::ChunkFeed(const ReleaseIndex& index, FeedOptions options, ChunkFetch fetch)
    : index_(index), options_(std::move(options)), fetch_(std::move(fetch)), uses_(index.chunks.size(), 0),
      same_as_first_root_(index.entries.size(), 0), shared_(index.chunks.size()) {
  for (size_t i = 0; i < index_.entries.size(); ++i) {
    const IndexEntry& e = index_.entries[i];
    if (e.type != EntryType::file) continue;
    uint64_t offset = 0;
    for (size_t first = 0; first < e.chunks.size();) {
      Segment s{i, first, first, offset, 0};
      while (s.last < e.chunks.size() && (s.last == first || s.bytes + index_.chunks[e.chunks[s.last]].size <= kSegmentBytes))
        s.bytes += index_.chunks[e.chunks[s.last++]].size;
      for (size_t k = s.first; k < s.last; ++k) ++uses_[e.chunks[k]];
      offset += s.bytes;
      first = s.last;
      segments_.push_back(s);
    }
  }
  const size_t workers = std::min(std::max<size_t>(options_.workers, 1), segments_.size());
  for (size_t w = 0; w < workers; ++w) threads_.emplace_back([this, w] { work(w); });
}

ChunkFeed::~ChunkFeed() {
  cancel();
  for (auto& t : threads_) t.join();
}

void ChunkFeed::cancel() {
  stop_.raise();
  std::lock_guard<std::mutex> lock(mu_);
  work_cv_.notify_all();
  read_cv_.notify_all();
}

FeedStats ChunkFeed::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::shared_ptr<const std::string> ChunkFeed::next() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (error_) std::rethrow_exception(error_);
    if (stop_.raised()) throw Error("stopped");
    if (next_read_ >= segments_.size()) throw Error("release index: more chunks read than its files hold");
    if (!done_.empty() && done_.front()) {
      Pieces& pieces = *done_.front();
      auto piece = std::move(pieces[read_piece_++]);
      if (read_piece_ == pieces.size()) {
        done_.pop_front();
        ahead_bytes_ -= segments_[next_read_].bytes;
        ++next_read_;
        read_piece_ = 0;
        work_cv_.notify_one();  // room in the window for one more
      }
      return piece;
    }
    read_cv_.wait(lock);
  }
}

void ChunkFeed::work(size_t worker) {
  while (true) {
    size_t i;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // The segment the reader waits for is always taken; others only within the window.
      work_cv_.wait(lock, [&] {
        return stop_.raised() || error_ || next_claim_ >= segments_.size() || next_claim_ == next_read_ ||
               ahead_bytes_ + segments_[next_claim_].bytes <= options_.window_bytes;
      });
      if (stop_.raised() || error_ || next_claim_ >= segments_.size()) return;
      i = next_claim_++;
      ahead_bytes_ += segments_[i].bytes;
      // Maybe room for another: pass the turn on rather than wake everyone at each read.
      if (next_claim_ < segments_.size() && ahead_bytes_ + segments_[next_claim_].bytes <= options_.window_bytes)
        work_cv_.notify_one();
    }
    try {
      Pieces pieces = gather(worker, segments_[i]);
      std::lock_guard<std::mutex> lock(mu_);
      if (done_.size() <= i - next_read_) done_.resize(i - next_read_ + 1);
      done_[i - next_read_] = std::move(pieces);
      if (i == next_read_) read_cv_.notify_one();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
      stop_.raise();
      work_cv_.notify_all();
      read_cv_.notify_all();
      return;
    }
  }
}

ChunkFeed::Pieces ChunkFeed::gather(size_t worker, const Segment& s) {
  const IndexEntry& e = index_.entries[s.entry];
  const size_t n = s.last - s.first;
  Pieces out(n);
  size_t missing = n;
  auto found = [&](size_t k, std::shared_ptr<const std::string> bytes) {
    out[k] = std::move(bytes);
    --missing;
  };
  // A chunk several places share may be in hand already.
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t k = 0; k < n; ++k)
      if (shared_[e.chunks[s.first + k]]) found(k, shared_[e.chunks[s.first + k]]);
  }
  const bool whole = s.first == 0 && s.last == e.chunks.size();
  uint64_t local_chunks = 0, local_bytes = 0;
  size_t in_place = 0;  // chunks found at their own position in the first root's copy, of the same size
  for (size_t r = 0; r < options_.local_roots.size(); ++r) {
    const auto& root = options_.local_roots[r];
    if (missing == 0 || stop_.raised()) break;
    const std::filesystem::path path = root / e.path;
    Fd fd(path);
    struct stat st {};
    if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const auto size = static_cast<uint64_t>(st.st_size);
    auto use = [&](size_t k, const uint8_t* data, size_t len) {
      found(k, std::make_shared<const std::string>(reinterpret_cast<const char*>(data), len));
      ++local_chunks;
      local_bytes += len;
    };
    try {
      if (whole && size <= kSegmentBytes) {
        // Cut the local copy by content; only a cut of a size still missing is hashed.
        std::unordered_multimap<uint32_t, size_t> by_size;
        for (size_t k = 0; k < n; ++k)
          if (!out[k]) by_size.emplace(index_.chunks[e.chunks[k]].size, k);
        size_t position = 0;  // of this local chunk in the local copy
        for_each_file_chunk(fd.get(), size, path.string(), [&](uint64_t, const uint8_t* data, size_t len) {
          const size_t here = position++;
          auto [lo, hi] = by_size.equal_range(static_cast<uint32_t>(len));
          if (lo == hi) return;
          const ChunkName name = chunk_name_of(data, len);
          for (auto it = lo; it != hi;) {
            if (!out[it->second] && index_.chunks[e.chunks[it->second]].name == name) {
              if (r == 0 && it->second == here && size == e.size) ++in_place;
              use(it->second, data, len);
              it = by_size.erase(it);
            } else {
              ++it;
            }
          }
        });
      } else {
        uint64_t offset = s.offset;
        std::string buf;
        for (size_t k = 0; k < n; offset += index_.chunks[e.chunks[s.first + k]].size, ++k) {
          const Chunk& c = index_.chunks[e.chunks[s.first + k]];
          if (out[k] || offset + c.size > size) continue;
          buf.resize(c.size);
          if (!read_exactly(fd.get(), buf, offset)) break;
          if (chunk_name_of(buf.data(), buf.size()) == c.name) use(k, reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
        }
      }
    } catch (const Error&) {
      // A local copy that cannot be read is no source; the store is.
    }
  }
  uint64_t fetched_chunks = 0, fetched_bytes = 0;
  for (size_t k = 0; k < n && !stop_.raised(); ++k) {
    if (out[k]) continue;
    const uint32_t c = e.chunks[s.first + k];
    const auto twin = std::find(e.chunks.begin() + s.first, e.chunks.begin() + s.first + k, c);
    if (twin != e.chunks.begin() + s.first + k) {  // the same chunk earlier in this segment
      out[k] = out[twin - (e.chunks.begin() + s.first)];
      continue;
    }
    out[k] = std::make_shared<const std::string>(fetch_(worker, index_.chunks[c], stop_));
    ++fetched_chunks;
    fetched_bytes += out[k]->size();
  }
  if (stop_.raised()) throw Error("stopped");
  std::lock_guard<std::mutex> lock(mu_);
  stats_.local_chunks += local_chunks;
  stats_.local_bytes += local_bytes;
  stats_.fetched_chunks += fetched_chunks;
  stats_.fetched_bytes += fetched_bytes;
  if (whole && in_place == n) same_as_first_root_[s.entry] = 1;
  for (size_t k = 0; k < n; ++k) {
    const uint32_t c = e.chunks[s.first + k];
    if (--uses_[c] == 0)
      shared_[c].reset();
    else if (!shared_[c])
      shared_[c] = out[k];
  }
  return out;
}

}  // namespace haul::delta
