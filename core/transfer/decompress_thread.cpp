// SPDX-License-Identifier: Apache-2.0
#include "transfer/decompress_thread.hpp"

#include <algorithm>
#include <vector>

#include "util/error.hpp"
#include "util/units.hpp"

#ifdef HAUL_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#ifdef HAUL_HAVE_ZSTD
#include <zstd.h>
#endif

namespace haul {
namespace {

[[maybe_unused]] bool starts_with(const void* data, size_t len, std::initializer_list<unsigned char> magic) {
  const auto* b = static_cast<const unsigned char*>(data);
  return len >= magic.size() && std::equal(magic.begin(), magic.end(), b);
}

// The compressed side: pulls chunks from the source as the codec drains them.
struct Input {
  ChunkReader& source;
  const uint8_t* data = nullptr;
  size_t avail = 0;
  bool done = false;
  uint64_t total = 0;

  void refill() {
    if (avail != 0 || done) return;
    auto [chunk, len] = source();
    if (!len) {
      done = true;
      return;
    }
    data = static_cast<const uint8_t*>(chunk);
    avail = len;
    total += len;
  }
};

// The decompressed side: the ratio check, then the pipe to the extractor.
// The codec writes straight into a pipe buffer, handed over without a copy.
struct Output {
  BytePipe& pipe;
  const std::string& origin;
  uint64_t max_ratio;
  uint64_t total = 0;
  BytePipe::Chunk buffer = pipe.buffer();

  uint8_t* data() { return reinterpret_cast<uint8_t*>(buffer.data()); }
  size_t room() const { return buffer.capacity(); }

  // false once the extractor stopped reading.
  bool emit(size_t produced, const Input& in) {
    total += produced;
    if (total > (64ull << 20) && total > max_ratio * std::max<uint64_t>(in.total, 1))
      throw Error(origin + ": " + format_bytes(total) + " decompressed from " + format_bytes(in.total) +
                  " of archive, a ratio above " + std::to_string(max_ratio) +
                  ":1 — a decompression bomb? refusing to extract (deploy.max_compression_ratio)");
    if (!produced) return true;
    buffer.resize(produced);
    if (!pipe.push(std::move(buffer))) return false;
    buffer = pipe.buffer();
    return true;
  }
};

#ifdef HAUL_HAVE_ISAL
void inflate_gzip(Input& in, Output& out) {
  auto state = std::make_unique<inflate_state>();
  isal_inflate_init(state.get());
  state->crc_flag = ISAL_GZIP;
  auto sync_in = [&] {
    in.data = state->next_in;
    in.avail = state->avail_in;
  };
  auto feed = [&] {
    sync_in();
    in.refill();
    state->next_in = const_cast<uint8_t*>(in.data);
    state->avail_in = static_cast<uint32_t>(in.avail);
  };
  while (true) {
    feed();
    state->next_out = out.data();
    state->avail_out = static_cast<uint32_t>(out.room());
    const int rc = isal_inflate(state.get());
    if (rc < 0)
      throw Error(out.origin + ": not a valid gzip stream (igzip error " + std::to_string(rc) + " after " +
                  format_bytes(in.total) + ")");
    const size_t produced = out.room() - state->avail_out;
    if (!out.emit(produced, in)) return;
    if (state->block_state == ISAL_BLOCK_FINISH) {
      // Another gzip member may follow (concatenated .gz files); anything
      // else after the last member is ignored, as gzip -d does.
      feed();
      if (!starts_with(state->next_in, state->avail_in, {0x1f, 0x8b})) return;
      uint8_t* next_in = state->next_in;
      const uint32_t avail_in = state->avail_in;
      isal_inflate_reset(state.get());
      state->crc_flag = ISAL_GZIP;
      state->next_in = next_in;
      state->avail_in = avail_in;
    } else if (in.done && state->avail_in == 0 && produced == 0) {
      throw Error(out.origin + ": the gzip stream ends early (truncated archive, after " + format_bytes(in.total) + ")");
    }
  }
}
#endif

#ifdef HAUL_HAVE_ZSTD
// libzstd's default window limit (128 MiB, as libarchive uses it) applies:
// frames made with `zstd --long` need that much memory to decompress.
void decompress_zstd(Input& in, Output& out) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) throw Error(out.origin + ": out of memory for the zstd decoder");
  size_t pending = 1;  // 0 once a frame is complete
  while (true) {
    in.refill();
    if (in.done && pending == 0) return;  // one or more whole frames, then the end
    ZSTD_inBuffer src{in.data, in.avail, 0};
    ZSTD_outBuffer dst{out.data(), out.room(), 0};
    pending = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(pending))
      throw Error(out.origin + ": not a valid zstd stream (" + ZSTD_getErrorName(pending) + " after " +
                  format_bytes(in.total) + ")");
    in.data += src.pos;
    in.avail -= src.pos;
    if (!out.emit(dst.pos, in)) return;
    if (in.done && in.avail == 0 && dst.pos == 0 && pending != 0)
      throw Error(out.origin + ": the zstd stream ends early (truncated archive, after " + format_bytes(in.total) + ")");
  }
}
#endif

}  // namespace

Codec threaded_codec_for(const void* data, size_t len) {
#ifdef HAUL_HAVE_ISAL
  if (starts_with(data, len, {0x1f, 0x8b})) return Codec::gzip;
#endif
#ifdef HAUL_HAVE_ZSTD
  if (starts_with(data, len, {0x28, 0xb5, 0x2f, 0xfd})) return Codec::zstd;
#endif
  (void)data, (void)len;
  return Codec::none;
}

// 1 MiB between decompression and extraction: both are local and steady
// (the network side keeps its 2 MiB for jitter); W1 is as fast, 1 MiB smaller.
DecompressThread::DecompressThread(Codec codec, ChunkReader source, std::string origin, uint64_t max_ratio)
    : source_(std::move(source)), origin_(std::move(origin)), max_ratio_(max_ratio), out_(1 << 20) {
  thread_ = JoiningThread([this, codec] { run(codec); });
}

DecompressThread::~DecompressThread() { stop(); }

void DecompressThread::stop() {
  out_.close_read();
  thread_.join();
}

std::pair<const void*, size_t> DecompressThread::next() {
  const auto& chunk = out_.pop();
  if (chunk.empty()) {
    if (auto err = out_.error()) throw Error(*err);
    return {nullptr, 0};
  }
  return {chunk.data(), chunk.size()};
}

void DecompressThread::run(Codec codec) {
  try {
    Input in{source_};
    Output out{out_, origin_, max_ratio_};
    switch (codec) {
#ifdef HAUL_HAVE_ISAL
      case Codec::gzip:
        inflate_gzip(in, out);
        break;
#endif
#ifdef HAUL_HAVE_ZSTD
      case Codec::zstd:
        decompress_zstd(in, out);
        break;
#endif
      default:
        throw Error(origin_ + ": this build has no threaded decoder for its compression");
    }
    out_.close_write();
  } catch (const std::exception& e) {
    out_.close_write(e.what());
  }
}

}  // namespace haul
