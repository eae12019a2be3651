// SPDX-License-Identifier: Apache-2.0
#include "extract/tar_stream.hpp"

#include <cerrno>

namespace haul {

la_ssize_t TarStream::on_read(struct archive* a, void* ctx, const void** buf) {
  auto* st = static_cast<State*>(ctx);
  try {
    auto [data, len] = (*st->read)();
    st->compressed += len;
    *buf = data;
    return static_cast<la_ssize_t>(len);
  } catch (const std::exception& e) {
    st->failure = e.what();
    archive_set_error(a, EIO, "%s", e.what());
    return -1;
  }
}

TarStream::TarStream(const ChunkReader& read, std::string origin)
    : origin_(std::move(origin)), state_{&read, {}, 0}, in_(archive_read_new(), archive_read_free) {
  archive_read_support_filter_all(in_.get());
  archive_read_support_format_tar(in_.get());
  archive_read_support_format_gnutar(in_.get());
  if (archive_read_open(in_.get(), &state_, nullptr, on_read, nullptr) != ARCHIVE_OK) throw fail(kNotATar);
}

Error TarStream::fail(const std::string& what) const {
  if (!state_.failure.empty()) return Error(state_.failure);
  const char* msg = archive_error_string(in_.get());
  return Error(origin_ + ": " + what + ": " + (msg ? msg : "unknown error"));
}

}  // namespace haul
