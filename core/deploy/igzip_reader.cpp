#include "deploy/igzip_reader.hpp"

#include <vector>

#include "util/error.hpp"
#include "util/units.hpp"

#ifdef HAUL_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

namespace haul {

bool looks_like_gzip(const void* data, size_t len) {
  const auto* b = static_cast<const unsigned char*>(data);
  return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

#ifdef HAUL_HAVE_ISAL

bool igzip_available() { return true; }

IgzipReader::IgzipReader(ChunkReader source, std::string origin, uint64_t max_ratio)
    : source_(std::move(source)), origin_(std::move(origin)), max_ratio_(max_ratio), out_(2 << 20) {
  thread_ = std::thread([this] { run(); });
}

IgzipReader::~IgzipReader() { stop(); }

void IgzipReader::stop() {
  out_.close_read();
  if (thread_.joinable()) thread_.join();
}

std::pair<const void*, size_t> IgzipReader::next() {
  const auto& chunk = out_.pop();
  if (chunk.empty()) {
    if (auto err = out_.error()) throw Error(*err);
    return {nullptr, 0};
  }
  return {chunk.data(), chunk.size()};
}

void IgzipReader::run() {
  try {
    auto state = std::make_unique<inflate_state>();
    isal_inflate_init(state.get());
    state->crc_flag = ISAL_GZIP;
    std::vector<uint8_t> out(256 << 10);
    uint64_t in_total = 0, out_total = 0;
    std::pair<const void*, size_t> in{nullptr, 0};
    bool input_done = false, members_done = false;
    auto refill = [&] {
      if (state->avail_in != 0 || input_done) return;
      in = source_();
      if (!in.second) {
        input_done = true;
        return;
      }
      state->next_in = static_cast<uint8_t*>(const_cast<void*>(in.first));
      state->avail_in = static_cast<uint32_t>(in.second);
      in_total += in.second;
    };
    while (!members_done) {
      refill();
      state->next_out = out.data();
      state->avail_out = static_cast<uint32_t>(out.size());
      const int rc = isal_inflate(state.get());
      if (rc < 0)
        throw Error(origin_ + ": not a valid gzip stream (igzip error " + std::to_string(rc) + " after " +
                    format_bytes(in_total) + ")");
      const size_t produced = out.size() - state->avail_out;
      out_total += produced;
      if (out_total > (64ull << 20) && out_total > max_ratio_ * std::max<uint64_t>(in_total, 1))
        throw Error(origin_ + ": " + format_bytes(out_total) + " inflated from " + format_bytes(in_total) +
                    " of archive, a ratio above " + std::to_string(max_ratio_) +
                    ":1 — a decompression bomb? refusing to extract (deploy.max_compression_ratio)");
      if (produced && !out_.push(out.data(), produced)) return;  // the reader stopped
      if (state->block_state == ISAL_BLOCK_FINISH) {
        // Another gzip member may follow (concatenated .gz files); anything
        // else after the last member is ignored, as gzip -d does.
        refill();
        if (state->avail_in >= 2 && looks_like_gzip(state->next_in, state->avail_in)) {
          uint8_t* next_in = state->next_in;
          const uint32_t avail_in = state->avail_in;
          isal_inflate_reset(state.get());
          state->crc_flag = ISAL_GZIP;
          state->next_in = next_in;
          state->avail_in = avail_in;
        } else {
          members_done = true;
        }
      } else if (input_done && state->avail_in == 0 && produced == 0) {
        throw Error(origin_ + ": the gzip stream ends early (truncated archive, after " + format_bytes(in_total) + ")");
      }
    }
    out_.close_write();
  } catch (const std::exception& e) {
    out_.close_write(e.what());
  }
}

#else

bool igzip_available() { return false; }
IgzipReader::IgzipReader(ChunkReader, std::string origin, uint64_t) : origin_(std::move(origin)) {
  throw Error("built without ISA-L");
}
IgzipReader::~IgzipReader() = default;
void IgzipReader::stop() {}
std::pair<const void*, size_t> IgzipReader::next() { return {nullptr, 0}; }
void IgzipReader::run() {}

#endif

}  // namespace haul
