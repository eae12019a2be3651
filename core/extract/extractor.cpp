// SPDX-License-Identifier: Apache-2.0
#include "extract/extractor.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "extract/dest_quick_check.hpp"
#include "extract/entry_guard.hpp"
#include "extract/disk_writer.hpp"
#include "extract/tar_stream.hpp"
#include "util/digest.hpp"
#include "util/content_hash.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

// Files above this size are always written: reusing them would mean holding
// them in memory to compare.
constexpr uint64_t kMaxReuseBytes = 64ull << 20;

// The folder part of an entry's path: "a/b" for "a/b/c", "" at the top.
std::string_view parent_of(std::string_view rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash);
}

// One extraction: the entries come in through the guard (safety), then each
// goes one of three ways — compared with dest's copy (rsync's quick check),
// linked from the previous release (reuse), or written — and into the
// content record.
class Extraction {
 public:
  Extraction(const ChunkReader& read, const std::filesystem::path& root, const std::string& origin,
             const ExtractOptions& options)
      : root_(root), options_(options), writer_(root, origin), in_(read, origin), guard_(origin, options.limits) {
    if (options.kept) quick_.emplace(options.quick_check_dest, *options.kept, writer_.applies_owner());
  }

  ExtractStats run() {
    struct archive_entry* header = nullptr;
    std::optional<time_t> root_mtime;
    while (true) {
      const int r = archive_read_next_header(in_.get(), &header);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY) {
        if (stats_.entries == 0 && !in_.stream_failed()) throw in_.fail(TarStream::kNotATar);
        throw in_.fail("corrupt or truncated archive after " + std::to_string(stats_.entries) + " entries");
      }
      const char* name = archive_entry_pathname(header);
      keep_unread_before(name ? name : "");
      AdmittedEntry e = admit(header);
      if (!e.rel) {  // the "./" entry: its mtime belongs to the folder itself
        if (e.type == AE_IFDIR) root_mtime = e.attrs.mtime.tv_sec;
        continue;
      }
      place(e);
    }
    keep_unread_before(std::nullopt);
    writer_.finish();
    if (root_mtime) {
      struct timespec times[2] = {{*root_mtime, 0}, {*root_mtime, 0}};
      utimensat(AT_FDCWD, root_.c_str(), times, 0);
    }
    return stats_;
  }

 private:
  uint64_t out_bytes() const { return stats_.bytes + stats_.linked_bytes; }

  // Through the guard, with the owner resolved; counted once it has a name.
  AdmittedEntry admit(struct archive_entry* header) {
    AdmittedEntry e = guard_.admit(header, out_bytes());
    if (!e.rel) return e;
    if (e.dropped_setuid) ++stats_.dropped_setuid;
    e.attrs.uid = writer_.resolve_uid(archive_entry_uname(header), static_cast<uid_t>(archive_entry_uid(header)));
    e.attrs.gid = writer_.resolve_gid(archive_entry_gname(header), static_cast<gid_t>(archive_entry_gid(header)));
    ++stats_.entries;
    return e;
  }

  // The unread files that come before `name` in archive order (all when
  // there is no next entry), each admitted from the header the stream would
  // have carried and kept in dest.
  void keep_unread_before(std::optional<std::string_view> name) {
    if (!options_.kept_unread) return;
    while (const auto f = options_.kept_unread->pop_before(name)) {
      std::unique_ptr<archive_entry, void (*)(archive_entry*)> header(archive_entry_new(), archive_entry_free);
      archive_entry_set_pathname(header.get(), f->path.c_str());
      archive_entry_set_filetype(header.get(), AE_IFREG);
      archive_entry_set_perm(header.get(), f->mode);
      archive_entry_set_mtime(header.get(), f->mtime, 0);
      archive_entry_set_size(header.get(), static_cast<la_int64_t>(f->size));
      const AdmittedEntry e = admit(header.get());
      if (!quick_ || !e.rel) throw Error(in_.origin() + ": '" + f->path + "' left out with no dest to keep it in");
      // Its stamp was checked by path. Under a folder the quick check kept
      // (reached without following a symlink) that path is dest's; else it
      // must be the same inode through dest's folders, or a fresh start reads it.
      const std::string_view folder = parent_of(*e.rel);
      std::optional<struct stat> have;
      if (folder.empty() || quick_->kept(std::string(folder)))
        have = f->have;
      else if ((have = quick_->same_stamp(*e.rel, e.declared, e.attrs)) &&
               !(InodeStamp::of(*have) == InodeStamp::of(f->have)))
        have.reset();
      if (!have)
        throw Error(in_.origin() + ": dest's copy of '" + f->path + "' is no longer the file its stamp names",
                    Error::Kind::source_changed);
      quick_->keep_file(*e.rel, *have, e.attrs);
      record_file(*e.rel, e.attrs.perm, e.declared, e.attrs.mtime, f->hash, nullptr, true);
      ++stats_.kept_files;
    }
  }

  void record_file(const std::string& rel, mode_t perm, uint64_t size, const struct timespec& mtime,
                   std::string_view hash, const InodeStamp* kept_as = nullptr, bool unread = false) {
    const PlacedFile placed{rel, static_cast<unsigned>(perm), size, mtime, hash, kept_as, unread};
    for (EntrySink* sink : options_.sinks) sink->file(placed);
  }
  void check_ratio() const { guard_.check_ratio(out_bytes(), in_.compressed()); }
  // Whether anyone records what lands: the content hash is computed only then.
  bool recording() const { return !options_.sinks.empty(); }

  void place(const AdmittedEntry& e) {
    const std::string& rel = *e.rel;
    if (e.type == AE_IFDIR) {
      if (!(quick_ && quick_->keeps_dir(rel, e.attrs))) writer_.make_dir(rel, e.attrs);
      for (EntrySink* sink : options_.sinks) sink->dir(rel, e.attrs.perm);
    } else if (e.symlink_target && e.hardlink_to.empty()) {
      writer_.make_symlink(rel, e.symlink_target, e.attrs);
      for (EntrySink* sink : options_.sinks) sink->symlink(rel, e.symlink_target);
    } else if (!e.hardlink_to.empty()) {
      place_hardlink(e);
    } else if (auto have = quick_ && rel != options_.always_extract ? quick_->same_stamp(rel, e.declared, e.attrs)
                                                                    : std::nullopt) {
      write_unless_same_as_dest(e, *have);
    } else if (const FileRecord* previous = reuse_candidate(e)) {
      link_or_write_from_memory(e, *previous);
    } else {
      write_file(e);
    }
  }

  void place_hardlink(const AdmittedEntry& e) {
    for (EntrySink* sink : options_.sinks) sink->hardlink(*e.rel, e.hardlink_to);
    // A hard link to a file dest kept: link dest's file, on the same filesystem.
    if (quick_ && quick_->kept(e.hardlink_to)) {
      const auto from = quick_->dest() / e.hardlink_to;
      if (!writer_.link_from(from, *e.rel))
        throw Error(in_.origin() + ": archive entry '" + e.raw + "': cannot link " + from.string() + ": " +
                    std::strerror(errno));
      return;
    }
    writer_.make_hardlink(*e.rel, e.hardlink_to);
  }

  // rsync's quick check passed (size and mtime): the content decides, as
  // the entry streams past. Matching bytes are not written; from the first
  // differing block on, what matched is replayed from dest and the rest
  // written.
  void write_unless_same_as_dest(const AdmittedEntry& e, const struct stat& have) {
    const std::string& rel = *e.rel;
    if (const InodeStamp* read_as = options_.known_same_as_dest ? options_.known_same_as_dest(rel) : nullptr) {
      if (recording()) {
        file_hash_.reset();
        read_blocks(e, [&](const void* buf, size_t size, int64_t offset) {
          file_hash_.update_at(buf, size, static_cast<uint64_t>(offset));
        });
        record_file(rel, e.attrs.perm, e.declared, e.attrs.mtime, file_hash_.digest(e.declared).view(), read_as);
      }
      quick_->keep_file(rel, have, e.attrs);
      ++stats_.kept_files;
      return;
    }
    const auto compare = quick_->compare(rel);
    bool writing = false;
    auto write = [&](const void* buf, size_t size, int64_t offset) {
      writer_.write(buf, size, offset);
      stats_.bytes += size;
    };
    auto start_writing = [&] {
      writer_.open_file(rel, e.attrs);
      compare->replay_matched(write);
      writing = true;
    };
    if (recording()) file_hash_.reset();
    read_blocks(e, [&](const void* buf, size_t size, int64_t offset) {
      if (recording()) file_hash_.update_at(buf, size, static_cast<uint64_t>(offset));
      if (!writing && compare->feed(buf, size, offset)) return;
      if (!writing) start_writing();
      write(buf, size, offset);
    });
    if (!writing && !compare->same(e.declared)) start_writing();  // dest's copy is longer, or the entry empty
    const InodeStamp compared = InodeStamp::of(have);  // stat'ed before the comparison read it
    if (recording())
      record_file(rel, e.attrs.perm, e.declared, e.attrs.mtime, file_hash_.digest(e.declared).view(),
                  writing ? nullptr : &compared);
    if (writing) {
      writer_.close_file(e.declared);
      ++stats_.rewritten_same_stamp;
      return;
    }
    quick_->keep_file(rel, have, e.attrs);
    ++stats_.kept_files;
  }

  // The previous release's record of a file that looks unchanged (size,
  // mode, mtime) and is small enough to compare in memory.
  const FileRecord* reuse_candidate(const AdmittedEntry& e) const {
    if (!options_.reuse || e.declared == 0 || e.declared > kMaxReuseBytes) return nullptr;
    auto it = options_.reuse->find(*e.rel);
    if (it == options_.reuse->end()) return nullptr;
    const FileRecord& f = it->second;
    return f.size == e.declared && f.mode == static_cast<unsigned>(e.attrs.perm) && f.mtime == e.attrs.mtime.tv_sec
               ? &f
               : nullptr;
  }

  // Read into memory and hashed first: when the content matches the
  // previous release's, the file is linked from there, not written.
  void link_or_write_from_memory(const AdmittedEntry& e, const FileRecord& previous) {
    const std::string& rel = *e.rel;
    std::string data(e.declared, '\0');
    const la_ssize_t got = archive_read_data(in_.get(), data.data(), data.size());
    if (got != static_cast<la_ssize_t>(data.size())) throw in_.fail("reading '" + e.raw + "' (truncated or corrupt archive)");
    const std::string sum = sha256_hex(data.data(), data.size());
    record(e, sum);
    if (recording()) {
      file_hash_.reset();
      file_hash_.update(data.data(), data.size());
      record_file(rel, e.attrs.perm, e.declared, e.attrs.mtime, file_hash_.digest(e.declared).view());
    }
    if (sum == previous.sha256 && writer_.link_from(options_.reuse_dir / rel, rel)) {
      ++stats_.linked_files;
      stats_.linked_bytes += e.declared;
      return;
    }
    writer_.open_file(rel, e.attrs);
    writer_.write(data.data(), data.size(), 0);
    writer_.close_file(e.declared);
    stats_.bytes += data.size();
  }

  void write_file(const AdmittedEntry& e) {
    writer_.open_file(*e.rel, e.attrs);
    std::optional<Hasher> sha256;
    if (options_.record) sha256.emplace("sha256");
    if (recording()) file_hash_.reset();
    if (e.declared > 0)
      read_blocks(e, [&](const void* buf, size_t size, int64_t offset) {
        writer_.write(buf, size, offset);
        if (sha256) sha256->update(buf, size);
        if (recording()) file_hash_.update_at(buf, size, static_cast<uint64_t>(offset));
        stats_.bytes += size;
      });
    writer_.close_file(e.declared);
    if (sha256) record(e, sha256->hex_digest());
    if (recording()) record_file(*e.rel, e.attrs.perm, e.declared, e.attrs.mtime, file_hash_.digest(e.declared).view());
  }

  // The entry's data blocks, as libarchive hands them over (sparse files
  // skip their holes), with the bomb check after each.
  template <typename Block>
  void read_blocks(const AdmittedEntry& e, Block&& block) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    int r;
    while ((r = archive_read_data_block(in_.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
      block(buf, size, offset);
      check_ratio();
    }
    if (r != ARCHIVE_EOF) throw in_.fail("reading '" + e.raw + "' (truncated or corrupt archive)");
  }

  void record(const AdmittedEntry& e, std::string sha256) {
    if (options_.record)
      (*options_.record)[*e.rel] = {e.declared, static_cast<unsigned>(e.attrs.perm), e.attrs.mtime.tv_sec,
                                    std::move(sha256)};
  }

  const std::filesystem::path root_;
  const ExtractOptions& options_;
  DiskWriter writer_;
  TarStream in_;
  EntryGuard guard_;
  std::optional<DestQuickCheck> quick_;
  ContentHash file_hash_;  // one state, reset per file
  ExtractStats stats_;
};

}  // namespace

ExtractStats extract_archive(const ChunkReader& read, const std::filesystem::path& dir,
                             const std::string& origin, const ExtractOptions& options) {
  // The folder is fresh and empty, so the only symlinks under it are the
  // ones this archive makes: the guard tracks those and refuses a write
  // through one (the writer's descriptors never follow one either) without
  // stat'ing every component of every path.
  const std::filesystem::path root = std::filesystem::canonical(dir);
  if (std::filesystem::directory_iterator(root) != std::filesystem::directory_iterator())
    throw Error("cannot extract " + origin + " into " + root.string() + ": the folder must be empty");
  return Extraction(read, root, origin, options).run();
}

}  // namespace haul
