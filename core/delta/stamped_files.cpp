// SPDX-License-Identifier: Apache-2.0
#include "delta/stamped_files.hpp"

#include <algorithm>

#include "delta/chunk_name.hpp"
#include "util/error.hpp"

namespace haul {

StampedFiles::StampedFiles(const delta::ReleaseIndex& index, const ExtractOptions& options, DestStampsWriter* stamps)
    : index_(index), options_(options), writer_(stamps) {
  if (!writer_) return;
  writer_->start(static_cast<size_t>(std::count_if(
      index.entries.begin(), index.entries.end(), [](const auto& e) { return e.type == delta::EntryType::file; })));
  if (!options.quick_check_dest.empty() && writer_->trusted())
    stamps_ = DestStamps::load(options.quick_check_dest, writer_->clock_at_start());
  if (stamps_.size() > 0) unchanged_.resize(index.entries.size());
}

std::function<bool(size_t)> StampedFiles::leave_out() {
  if (unchanged_.empty()) return {};
  return [this](size_t entry) { return check(entry); };
}

bool StampedFiles::check(size_t entry) {
  const delta::IndexEntry& e = index_.entries[entry];
  if (e.size == 0 || e.path == options_.always_extract) return false;
  struct stat st {};
  Unchanged& u = unchanged_[entry];
  u.stamp = stamps_.unchanged(options_.quick_check_dest, e.path, delta::chunk_list_digest(index_, e), e.size, e.mtime, st);
  u.mode = st.st_mode;
  u.uid = st.st_uid;
  u.gid = st.st_gid;
  return u.stamp.has_value();
}

void StampedFiles::left_out(size_t entry) {
  const delta::IndexEntry& e = index_.entries[entry];
  const Unchanged& u = unchanged_.at(entry);  // the feed's lock ordered the worker's write before this
  if (!u.stamp) throw Error("release index: '" + e.path + "' left out with no stamp");
  const FileStamp& s = *u.stamp;
  writer_->add(e.path, std::string(s.chunks), s.content, e.size, e.mtime, &s.inode);
  UnreadFile f;
  f.path = e.path;
  f.size = e.size;
  f.mtime = e.mtime;
  f.mode = e.mode;
  f.hash.assign(s.content);
  f.have.st_dev = static_cast<dev_t>(s.inode.dev);
  f.have.st_ino = static_cast<ino_t>(s.inode.ino);
  f.have.st_size = static_cast<off_t>(s.inode.size);
  f.have.st_mtim = f.have.st_atim = s.inode.mtime;
  f.have.st_ctim = s.inode.ctime;
  f.have.st_mode = u.mode;
  f.have.st_uid = u.uid;
  f.have.st_gid = u.gid;
  unread_.push(std::move(f));
  ++unread_count_;
}

void StampedFiles::file(const PlacedFile& f) {
  if (!writer_ || f.unread) return;
  const auto it = std::lower_bound(index_.entries.begin(), index_.entries.end(), f.path,
                                   [](const delta::IndexEntry& e, std::string_view p) { return e.path < p; });
  if (it != index_.entries.end() && it->path == f.path && it->type == delta::EntryType::file)
    writer_->add(f.path, delta::chunk_list_digest(index_, *it), f.hash, it->size, it->mtime, f.kept_as);
}

void StampedFiles::extraction_failed(const std::exception_ptr& error) {
  if (unread_count_ == 0 || !error) return;
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    if (e.kind() == Error::Kind::source_changed) writer_->distrust();
  } catch (...) {
  }
}

}  // namespace haul
