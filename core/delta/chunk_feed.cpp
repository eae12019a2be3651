// SPDX-License-Identifier: Apache-2.0
#include "delta/chunk_feed.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <thread>
#include <unordered_map>

#include "delta/chunk_name.hpp"
#include "delta/file_chunks.hpp"
#include "util/error.hpp"

namespace haul::delta {
namespace {

constexpr uint64_t kPartBytes = 8ull << 20;
constexpr uint64_t kSegmentBytes = 1ull << 20;
constexpr size_t kSegmentParts = 64;

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

ChunkFetch each_chunk(std::function<std::string(size_t, const Chunk&, StopSignal&)> fetch) {
  return [fetch = std::move(fetch)](size_t worker, const std::vector<const Chunk*>& chunks, StopSignal& stop) {
    std::vector<std::string> out;
    out.reserve(chunks.size());
    for (const Chunk* c : chunks) {
      if (stop.raised()) throw Error("stopped");
      out.push_back(fetch(worker, *c, stop));
    }
    return out;
  };
}

ChunkFeed::ChunkFeed(const ReleaseIndex& index, FeedOptions options, ChunkFetch fetch)
    : index_(index), options_(std::move(options)), fetch_(std::move(fetch)), uses_(index.chunks.size(), 0),
      same_as_first_root_(index.entries.size(), 0), first_root_inode_(index.entries.size()),
      shared_(index.chunks.size()),
      cpu_free_(options_.local_readers ? options_.local_readers : std::max(1u, std::thread::hardware_concurrency())) {
  for (size_t i = 0; i < index_.entries.size(); ++i) {
    const IndexEntry& e = index_.entries[i];
    if (e.type != EntryType::file) continue;
    uint64_t offset = 0;
    for (size_t first = 0; first < e.chunks.size();) {
      Part p{i, first, first, offset, 0};
      while (p.last < e.chunks.size() && (p.last == first || p.bytes + index_.chunks[e.chunks[p.last]].size <= kPartBytes))
        p.bytes += index_.chunks[e.chunks[p.last++]].size;
      for (size_t k = p.first; k < p.last; ++k) ++uses_[e.chunks[k]];
      offset += p.bytes;
      first = p.last;
      parts_.push_back(p);
    }
  }
  for (size_t first = 0; first < parts_.size();) {
    Segment s{first, first, 0};
    while (s.last_part < parts_.size() && s.last_part - first < kSegmentParts &&
           (s.last_part == first || s.bytes + parts_[s.last_part].bytes <= kSegmentBytes))
      s.bytes += parts_[s.last_part++].bytes;
    first = s.last_part;
    segments_.push_back(s);
  }
  const size_t workers = std::min(std::max<size_t>(options_.workers, 1), segments_.size());
  for (size_t w = 0; w < workers; ++w) {
    threads_.emplace_back([this, w] { work(w); });
    threads_.back().unblock_with([this] { cancel(); });  // a worker that could not start: the others stop
  }
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
  if (read_piece_ < reading_.size()) return std::move(reading_[read_piece_++]);
  // The segment is used up: take the next one whole (one lock per segment, not per chunk).
  std::unique_lock<std::mutex> lock(mu_);
  if (!reading_.empty()) {
    ahead_bytes_ -= segments_[next_read_].bytes;
    ++next_read_;
    reading_.clear();
    work_cv_.notify_one();  // room in the window for one more
  }
  while (true) {
    if (error_) std::rethrow_exception(error_);
    if (stop_.raised()) throw Error("stopped");
    if (next_read_ >= segments_.size()) throw Error("release index: more chunks read than its files hold");
    if (!done_.empty() && done_.front()) {
      reading_ = std::move(*done_.front());
      done_.pop_front();
      ++taken_;
      read_piece_ = 0;
      return std::move(reading_[read_piece_++]);
    }
    read_cv_.wait(lock);
  }
}

bool ChunkFeed::room_for(const Segment& next) const {
  return ahead_bytes_ + next.bytes <= options_.window_bytes && next_claim_ - next_read_ < options_.window_segments;
}

void ChunkFeed::work(size_t worker) {
  while (true) {
    size_t i;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // The segment the reader waits for is always taken; others only within the window.
      work_cv_.wait(lock, [&] {
        return stop_.raised() || error_ || next_claim_ >= segments_.size() || next_claim_ == next_read_ ||
               room_for(segments_[next_claim_]);
      });
      if (stop_.raised() || error_ || next_claim_ >= segments_.size()) return;
      i = next_claim_++;
      ahead_bytes_ += segments_[i].bytes;
      // Maybe room for another: pass the turn on rather than wake everyone at each read.
      if (next_claim_ < segments_.size() && room_for(segments_[next_claim_])) work_cv_.notify_one();
    }
    try {
      Pieces pieces = gather(worker, segments_[i]);
      std::lock_guard<std::mutex> lock(mu_);
      if (done_.size() <= i - taken_) done_.resize(i - taken_ + 1);
      done_[i - taken_] = std::move(pieces);
      if (i == taken_) read_cv_.notify_one();
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

// Looks for the part's missing chunks in the local copies; counts in
// `in_place` the chunks found at their own position in the first root's copy
// of the same size.
void ChunkFeed::find_locally(const Part& s, std::shared_ptr<const std::string>* out, size_t& in_place,
                             InodeStamp& first_root, FeedStats& stats) const {
  const IndexEntry& e = index_.entries[s.entry];
  const size_t n = s.last - s.first;
  size_t missing = static_cast<size_t>(std::count(out, out + n, nullptr));
  const bool whole = s.first == 0 && s.last == e.chunks.size();
  for (size_t r = 0; r < options_.local_roots.size() && missing > 0; ++r) {
    const std::filesystem::path path = options_.local_roots[r] / e.path;
    Fd fd(path);
    struct stat st {};
    if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (r == 0) first_root = InodeStamp::of(st);
    const auto size = static_cast<uint64_t>(st.st_size);
    auto use = [&](size_t k, const uint8_t* data, size_t len) {
      out[k] = std::make_shared<const std::string>(reinterpret_cast<const char*>(data), len);
      --missing;
      ++stats.local_chunks;
      stats.local_bytes += len;
    };
    try {
      if (whole && n == 1 && size == e.size) {
        // One chunk, the same size: most files. Read it straight into its piece.
        auto bytes = std::make_shared<std::string>(size, '\0');
        if (read_exactly(fd.get(), *bytes, 0) && chunk_name_of(bytes->data(), bytes->size()) == index_.chunks[e.chunks[0]].name) {
          if (r == 0) ++in_place;
          out[0] = std::move(bytes);
          --missing;
          ++stats.local_chunks;
          stats.local_bytes += size;
        }
      } else if (whole && size <= kPartBytes) {
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
}

ChunkFeed::Pieces ChunkFeed::gather(size_t worker, const Segment& seg) {
  const size_t parts = seg.last_part - seg.first_part;
  std::vector<char> left_out(parts, 0);
  if (options_.leave_out)
    for (size_t p = seg.first_part; p < seg.last_part; ++p) {
      const Part& part = parts_[p];
      left_out[p - seg.first_part] = part.first == 0 && part.last == index_.entries[part.entry].chunks.size() &&
                                     options_.leave_out(part.entry);
    }
  // Chunks in hand or wanted from each part: a left-out file's one marker holds none.
  auto wanted = [&](size_t p) { return left_out[p - seg.first_part] ? 0 : parts_[p].last - parts_[p].first; };
  // Where each part's pieces start in the segment's.
  std::vector<size_t> at{0};
  for (size_t p = seg.first_part; p < seg.last_part; ++p)
    at.push_back(at.back() + (left_out[p - seg.first_part] ? 1 : wanted(p)));
  Pieces out(at.back());
  auto chunk_of = [&](size_t p, size_t k) { return index_.entries[parts_[p].entry].chunks[parts_[p].first + k]; };
  // Chunks several places share may be in hand already: one lock for the segment.
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t p = seg.first_part; p < seg.last_part; ++p)
      for (size_t k = 0; k < wanted(p); ++k) out[at[p - seg.first_part] + k] = shared_[chunk_of(p, k)];
  }
  FeedStats stats;
  std::vector<char> in_place(seg.last_part - seg.first_part, 0);
  std::vector<InodeStamp> first_root(seg.last_part - seg.first_part);
  const auto missing = [&] {
    for (size_t p = seg.first_part; p < seg.last_part; ++p)
      for (size_t k = 0; k < wanted(p); ++k)
        if (!out[at[p - seg.first_part] + k]) return true;
    return false;
  };
  if (!options_.local_roots.empty() && missing()) {
    // The local part holds one of the cores' turns; fetches do not.
    std::unique_lock<std::mutex> turn(cpu_mu_);
    cpu_cv_.wait(turn, [&] { return cpu_free_ > 0; });
    --cpu_free_;
    turn.unlock();
    for (size_t p = seg.first_part; p < seg.last_part && !stop_.raised(); ++p) {
      const Part& part = parts_[p];
      if (left_out[p - seg.first_part]) continue;
      size_t placed = 0;
      find_locally(part, &out[at[p - seg.first_part]], placed, first_root[p - seg.first_part], stats);
      const IndexEntry& e = index_.entries[part.entry];
      in_place[p - seg.first_part] = part.first == 0 && part.last == e.chunks.size() && placed == part.last - part.first;
    }
    turn.lock();
    ++cpu_free_;
    cpu_cv_.notify_one();
  }
  // What is still missing goes to the store in one call; a chunk twice in the segment is fetched once.
  std::unordered_map<uint32_t, size_t> fetch_slot;
  std::vector<const Chunk*> to_fetch;
  for (size_t p = seg.first_part; p < seg.last_part; ++p)
    for (size_t k = 0; k < wanted(p); ++k)
      if (!out[at[p - seg.first_part] + k] && fetch_slot.emplace(chunk_of(p, k), to_fetch.size()).second)
        to_fetch.push_back(&index_.chunks[chunk_of(p, k)]);
  if (!to_fetch.empty() && !stop_.raised()) {
    std::vector<std::string> got = fetch_(worker, to_fetch, stop_);
    if (got.size() != to_fetch.size()) throw Error("chunk fetch returned " + std::to_string(got.size()) + " of " +
                                                   std::to_string(to_fetch.size()) + " chunks");
    std::vector<std::shared_ptr<const std::string>> fetched(got.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ++stats.fetched_chunks;
      stats.fetched_bytes += got[i].size();
      fetched[i] = std::make_shared<const std::string>(std::move(got[i]));
    }
    for (size_t p = seg.first_part; p < seg.last_part; ++p)
      for (size_t k = 0; k < wanted(p); ++k) {
        auto& piece = out[at[p - seg.first_part] + k];
        if (!piece) piece = fetched[fetch_slot.at(chunk_of(p, k))];
      }
  }
  if (stop_.raised()) throw Error("stopped");
  std::lock_guard<std::mutex> lock(mu_);
  stats_.local_chunks += stats.local_chunks;
  stats_.local_bytes += stats.local_bytes;
  stats_.fetched_chunks += stats.fetched_chunks;
  stats_.fetched_bytes += stats.fetched_bytes;
  for (size_t p = seg.first_part; p < seg.last_part; ++p) {
    if (in_place[p - seg.first_part]) {
      same_as_first_root_[parts_[p].entry] = 1;
      first_root_inode_[parts_[p].entry] = first_root[p - seg.first_part];
    }
    for (size_t k = 0; k < parts_[p].last - parts_[p].first; ++k) {
      const uint32_t c = chunk_of(p, k);
      if (--uses_[c] == 0)
        shared_[c].reset();
      else if (!shared_[c] && k < wanted(p))
        shared_[c] = out[at[p - seg.first_part] + k];
    }
  }
  return out;
}

}  // namespace haul::delta
