// SPDX-License-Identifier: Apache-2.0
#include "delta/index_tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>

#include "util/error.hpp"

namespace haul::delta {
namespace {

struct Sink {
  const std::function<bool(const void*, size_t)>* out;
  bool reader_gone = false;
};

// A reader that went away is not an error to libarchive: the bytes are
// dropped and the writer stops at its next step. Failing the callback
// instead would leave the archive FATAL, and libarchive 3.6 (Debian 12)
// then leaks the client filter's state in archive_write_free.
la_ssize_t write_cb(struct archive*, void* ctx, const void* data, size_t n) {
  auto* sink = static_cast<Sink*>(ctx);
  if (!sink->reader_gone && !(*sink->out)(data, n)) sink->reader_gone = true;
  return static_cast<la_ssize_t>(n);
}

}  // namespace

void write_index_as_tar(const ReleaseIndex& index, const std::string& origin,
                        const std::function<std::shared_ptr<const std::string>()>& next_chunk,
                        const std::function<bool(const void*, size_t)>& out,
                        const std::function<void(size_t entry)>& left_out) {
  Sink sink{&out};
  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_write_new(), archive_write_free);
  auto check = [&](int r, const std::string& what) {
    if (sink.reader_gone) return false;
    if (r >= ARCHIVE_WARN) return true;
    const char* why = archive_error_string(a.get());
    throw Error("release index " + origin + ": cannot " + what + ": " + (why ? why : "libarchive error"));
  };
  // Unblocked: headers and chunks go to `out` as written (the pipe joins
  // small writes), not copied through a block buffer first.
  if (!check(archive_write_set_format_pax_restricted(a.get()), "write tar") ||
      !check(archive_write_set_bytes_per_block(a.get(), 0), "write tar") ||
      !check(archive_write_set_bytes_in_last_block(a.get(), 1), "write tar") ||
      !check(archive_write_open2(a.get(), &sink, nullptr, write_cb, nullptr, nullptr), "write tar"))
    return;
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> ae(archive_entry_new(), archive_entry_free);
  for (size_t i = 0; i < index.entries.size(); ++i) {
    const IndexEntry& e = index.entries[i];
    archive_entry_clear(ae.get());
    archive_entry_set_pathname(ae.get(), e.path.c_str());
    archive_entry_set_uid(ae.get(), 0);
    archive_entry_set_gid(ae.get(), 0);
    archive_entry_set_mtime(ae.get(), e.mtime, 0);
    archive_entry_set_perm(ae.get(), e.mode);
    switch (e.type) {
      case EntryType::dir: archive_entry_set_filetype(ae.get(), AE_IFDIR); break;
      case EntryType::symlink:
        archive_entry_set_filetype(ae.get(), AE_IFLNK);
        archive_entry_set_symlink(ae.get(), e.target.c_str());
        break;
      case EntryType::hardlink:
        archive_entry_set_filetype(ae.get(), AE_IFREG);
        archive_entry_set_hardlink(ae.get(), e.target.c_str());
        archive_entry_set_size(ae.get(), 0);
        break;
      case EntryType::file:
        archive_entry_set_filetype(ae.get(), AE_IFREG);
        archive_entry_set_size(ae.get(), static_cast<la_int64_t>(e.size));
        break;
    }
    // A file's first chunk is in hand before its header goes out: whatever
    // the reader learns of the file from the chunks' source is settled by then.
    std::shared_ptr<const std::string> first = e.type == EntryType::file && !e.chunks.empty() ? next_chunk() : nullptr;
    if (e.type == EntryType::file && !e.chunks.empty() && !first) {
      if (!left_out) throw Error("release index " + origin + ": no bytes for '" + e.path + "'");
      left_out(i);
      continue;
    }
    if (!check(archive_write_header(a.get(), ae.get()), "write the header of '" + e.path + "'")) return;
    if (e.type != EntryType::file) continue;
    for (size_t k = 0; k < e.chunks.size(); ++k) {
      const auto bytes = k == 0 ? std::move(first) : next_chunk();
      const bool whole = archive_write_data(a.get(), bytes->data(), bytes->size()) ==
                         static_cast<la_ssize_t>(bytes->size());
      if (!check(whole ? ARCHIVE_OK : ARCHIVE_FATAL, "write '" + e.path + "'")) return;
    }
  }
  check(archive_write_close(a.get()), "finish the tar stream");
}

}  // namespace haul::delta
