#include "deploy/extractor.hpp"

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
#include <set>
#include <vector>

#include "deploy/dest_file_compare.hpp"
#include "deploy/dir_cursor.hpp"
#include "deploy/disk_writer.hpp"
#include "deploy/tar_stream.hpp"
#include "util/digest.hpp"
#include "util/content_hash.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

// The archive path without "./" prefixes; nullopt for the root entry itself.
std::optional<std::string> relative_name(const std::string& raw, const std::string& origin) {
  auto refuse = [&](const std::string& why) {
    return Error(origin + ": archive entry '" + raw + "' " + why + "; refusing to extract");
  };
  if (raw.empty()) throw refuse("has an empty name");
  if (raw[0] == '/') throw refuse("has an absolute path");
  std::string out;
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t slash = raw.find('/', pos);
    if (slash == std::string::npos) slash = raw.size();
    std::string part = raw.substr(pos, slash - pos);
    if (part == "..") throw refuse("has a '..' component and would land outside dest");
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + part;
    pos = slash + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// Does a link at `entry` (relative to the root) pointing at `target` stay
// inside the root? Absolute targets never do.
bool link_stays_inside(const std::string& entry, const std::string& target) {
  if (target.empty() || target[0] == '/') return false;
  std::vector<std::string> parts;
  size_t slash = entry.rfind('/');
  std::string path = (slash == std::string::npos ? "" : entry.substr(0, slash + 1)) + target;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    if (part == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = next + 1;
  }
  return true;
}

// Files above this size are always written: reusing them would mean holding
// them in memory to compare.
constexpr uint64_t kMaxReuseBytes = 64ull << 20;


}  // namespace

ExtractStats extract_archive(const ChunkReader& read, const std::filesystem::path& dir,
                             const std::string& origin, const ExtractOptions& options) {
  // The folder is fresh and empty, so the only symlinks under it are the ones
  // this archive makes: tracking those (below) refuses a write through a
  // symlink with a message naming it (the writer's descriptors never follow
  // one either) without stat'ing every component of every path.
  const std::filesystem::path root = std::filesystem::canonical(dir);
  if (std::filesystem::directory_iterator(root) != std::filesystem::directory_iterator())
    throw Error("cannot extract " + origin + " into " + root.string() + ": the folder must be empty");
  DiskWriter writer(root, origin);
  // dest's folders, for the quick check: never created, never followed; under
  // a folder dest lacks, no lookups at all.
  std::optional<DirCursor> dest_dirs;
  if (options.kept) dest_dirs.emplace(options.quick_check_dest, /*create_missing=*/false);
  auto stat_in_dest = [&](const std::string& rel, struct stat& st) {
    auto [folder, name] = DirCursor::split(rel);
    const int fd = dest_dirs->at(folder);
    return fd >= 0 && fstatat(fd, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  };

  TarStream in(read, origin);

  ExtractStats stats;
  uint64_t entry_count = 0;
  ContentHash file_hash;  // one state, reset per file
  // A bomb shows as far more output than input: judged once past 64 MiB.
  auto check_ratio = [&] {
    const uint64_t out_bytes = stats.bytes + stats.linked_bytes;
    if (out_bytes > (64ull << 20) && out_bytes > options.limits.max_ratio * std::max<uint64_t>(in.compressed(), 1))
      throw Error(origin + ": " + format_bytes(out_bytes) + " extracted from " + format_bytes(in.compressed()) +
                  " of archive, a ratio above " + std::to_string(options.limits.max_ratio) +
                  ":1 — a decompression bomb? refusing to extract (deploy.max_compression_ratio)");
  };
  std::optional<time_t> root_mtime;
  std::set<std::string> symlinks;  // relative paths of the symlinks extracted so far
  auto through_symlink = [&](const std::string& rel) -> const std::string* {
    if (symlinks.empty()) return nullptr;
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
      auto it = symlinks.find(rel.substr(0, slash));
      if (it != symlinks.end()) return &*it;
    }
    return nullptr;
  };
  struct archive_entry* entry = nullptr;
  while (true) {
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY) {
      if (stats.entries == 0 && !in.stream_failed()) throw in.fail(TarStream::kNotATar);
      throw in.fail("corrupt or truncated archive after " + std::to_string(stats.entries) + " entries");
    }
    const std::string raw = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    const mode_t type = archive_entry_filetype(entry);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && !archive_entry_hardlink(entry))
      throw Error(origin + ": archive entry '" + raw +
                  "' is a device, FIFO or socket; only files, directories and links are deployed");
    if (++entry_count > options.limits.max_entries)
      throw Error(origin + ": more than " + std::to_string(options.limits.max_entries) +
                  " entries; refusing to extract (raise deploy.max_entries if this is intended)");
    const uint64_t declared = static_cast<uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry)));
    if (stats.bytes + stats.linked_bytes + declared > options.limits.max_bytes)
      throw Error(origin + ": archive entry '" + raw + "' would take the release past " +
                  format_bytes(options.limits.max_bytes) + "; refusing to extract (deploy.max_extract_bytes)");
    auto rel = relative_name(raw, origin);
    if (!rel) {  // the "./" entry: its mtime belongs to the folder itself
      if (type == AE_IFDIR) root_mtime = archive_entry_mtime(entry);
      continue;
    }
    const char* symlink_target = type == AE_IFLNK ? archive_entry_symlink(entry) : nullptr;
    if (type == AE_IFLNK && (!symlink_target || !link_stays_inside(*rel, symlink_target)))
      throw Error(origin + ": archive entry '" + raw + "' is a symlink to '" + (symlink_target ? symlink_target : "") +
                  "', outside the release; refusing to extract");
    EntryAttrs attrs;
    attrs.perm = archive_entry_perm(entry);
    if ((attrs.perm & 06000) && type == AE_IFREG && !options.limits.allow_setuid) {
      attrs.perm &= ~06000u;
      ++stats.dropped_setuid;
    }
    attrs.uid = writer.resolve_uid(archive_entry_uname(entry), static_cast<uid_t>(archive_entry_uid(entry)));
    attrs.gid = writer.resolve_gid(archive_entry_gname(entry), static_cast<gid_t>(archive_entry_gid(entry)));
    attrs.mtime = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
    attrs.atime = archive_entry_atime_is_set(entry)
                      ? timespec{archive_entry_atime(entry), archive_entry_atime_nsec(entry)}
                      : attrs.mtime;
    if (const std::string* link = through_symlink(*rel))
      throw Error(origin + ": archive entry '" + raw + "' goes through the symlink '" + *link +
                  "' made earlier in the archive; refusing to extract");
    std::string hardlink_to;  // relative
    if (const char* link = archive_entry_hardlink(entry)) {
      auto target = relative_name(link, origin);
      if (!target)
        throw Error(origin + ": archive entry '" + raw + "' is a hard link to the archive root");
      if (const std::string* via = through_symlink(*target))
        throw Error(origin + ": archive entry '" + raw + "' is a hard link through the symlink '" + *via +
                    "'; refusing to extract");
      hardlink_to = *target;
      // A hard link to a symlink is another symlink.
      if (symlinks.count(*target)) symlinks.insert(*rel);
    }
    // A path once a symlink stays blocked, even if a later entry replaces it
    // (a directory entry may keep the symlink in place).
    if (type == AE_IFLNK) symlinks.insert(*rel);
    const bool plain_file = type == AE_IFREG && hardlink_to.empty();
    // A folder dest holds with the same mode and mtime is not created here
    // either (its changed files get plain parents; the sync goes by *kept).
    if (type == AE_IFDIR && options.kept) {
      struct stat have;
      const bool found = stat_in_dest(*rel, have);
      if (found && S_ISDIR(have.st_mode) && (have.st_mode & 07777) == attrs.perm &&
          have.st_mtim.tv_sec == attrs.mtime.tv_sec &&
          (!writer.applies_owner() || (have.st_uid == attrs.uid && have.st_gid == attrs.gid))) {
        options.kept->add(*rel, attrs.mtime);
        if (options.tree) options.tree->dir(*rel, attrs.perm);
        ++stats.entries;
        continue;
      }
    }
    if (plain_file && options.kept && *rel != options.always_extract) {
      struct stat have;
      if (stat_in_dest(*rel, have) && S_ISREG(have.st_mode) && have.st_size == archive_entry_size(entry) &&
          have.st_mtim.tv_sec == attrs.mtime.tv_sec) {
        // Size and mtime match (rsync's quick check); the content decides.
        auto [folder, name] = DirCursor::split(*rel);
        DestFileCompare compare(dest_dirs->at(folder), std::string(name));
        bool writing = false;
        auto write = [&](const void* buf, size_t size, int64_t offset) {
          writer.write(buf, size, offset);
          stats.bytes += size;
        };
        const void* buf;
        size_t size;
        la_int64_t offset;
        ContentHash* content = options.tree ? &file_hash : nullptr;
        if (content) content->reset();
        while ((r = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
          if (content) content->update_at(buf, size, static_cast<uint64_t>(offset));
          if (!writing && compare.feed(buf, size, offset)) continue;
          if (!writing) {  // differs from here on: write what matched, then the rest
            writer.open_file(*rel, attrs);
            compare.replay_matched(write);
            writing = true;
          }
          write(buf, size, offset);
          check_ratio();
        }
        if (r != ARCHIVE_EOF) throw in.fail("reading '" + raw + "' (truncated or corrupt archive)");
        ++stats.entries;
        if (content) options.tree->file(*rel, attrs.perm, declared, attrs.mtime, content->digest(declared).view());
        if (!writing && !compare.same(declared)) {  // dest's copy is longer, or the entry was empty
          writer.open_file(*rel, attrs);
          compare.replay_matched(write);
          writing = true;
        }
        if (writing) {
          writer.close_file(declared);
          ++stats.rewritten_same_stamp;
          continue;
        }
        const bool same_attributes =
            (have.st_mode & 07777) == attrs.perm && have.st_mtim.tv_nsec == attrs.mtime.tv_nsec &&
            (!writer.applies_owner() || (have.st_uid == attrs.uid && have.st_gid == attrs.gid));
        if (same_attributes) {
          options.kept->add(*rel, attrs.mtime);
        } else {
          struct stat want = have;
          want.st_mode = S_IFREG | attrs.perm;
          want.st_uid = attrs.uid;
          want.st_gid = attrs.gid;
          want.st_mtim = attrs.mtime;
          want.st_atim = attrs.atime;
          options.kept->add_with_attributes(*rel, want);
        }
        ++stats.kept_files;
        continue;
      }
    }
    ++stats.entries;
    if (type == AE_IFDIR) {
      writer.make_dir(*rel, attrs);
      if (options.tree) options.tree->dir(*rel, attrs.perm);
      continue;
    }
    if (symlink_target && hardlink_to.empty()) {
      writer.make_symlink(*rel, symlink_target, attrs);
      if (options.tree) options.tree->symlink(*rel, symlink_target);
      continue;
    }
    if (!hardlink_to.empty()) {
      if (options.tree) options.tree->hardlink(*rel, hardlink_to);
      // A hard link to a file dest kept: link dest's file, on the same filesystem.
      if (options.kept && options.kept->contains(hardlink_to)) {
        if (!writer.link_from(options.quick_check_dest / hardlink_to, *rel))
          throw Error(origin + ": archive entry '" + raw + "': cannot link " +
                      (options.quick_check_dest / hardlink_to).string() + ": " + std::strerror(errno));
      } else {
        writer.make_hardlink(*rel, hardlink_to);
      }
      continue;
    }
    const FileRecord incoming{declared, static_cast<unsigned>(attrs.perm), attrs.mtime.tv_sec, ""};
    // A file that looks unchanged is read into memory and hashed first: if
    // its content matches the previous release's, it is linked, not written.
    const FileRecord* candidate = nullptr;
    if (options.reuse && incoming.size > 0 && incoming.size <= kMaxReuseBytes) {
      auto it = options.reuse->find(*rel);
      if (it != options.reuse->end() && it->second.size == incoming.size && it->second.mode == incoming.mode &&
          it->second.mtime == incoming.mtime)
        candidate = &it->second;
    }
    if (candidate) {
      std::string data(incoming.size, '\0');
      la_ssize_t got = archive_read_data(in.get(), data.data(), data.size());
      if (got != static_cast<la_ssize_t>(data.size()))
        throw in.fail("reading '" + raw + "' (truncated or corrupt archive)");
      const std::string sum = sha256_hex(data.data(), data.size());
      if (options.record) (*options.record)[*rel] = {incoming.size, incoming.mode, incoming.mtime, sum};
      if (options.tree) {
        file_hash.reset();
        file_hash.update(data.data(), data.size());
        options.tree->file(*rel, attrs.perm, incoming.size, attrs.mtime, file_hash.digest(incoming.size).view());
      }
      if (sum == candidate->sha256 && writer.link_from(options.reuse_dir / *rel, *rel)) {
        ++stats.linked_files;
        stats.linked_bytes += incoming.size;
        continue;
      }
      writer.open_file(*rel, attrs);
      writer.write(data.data(), data.size(), 0);
      writer.close_file(incoming.size);
      stats.bytes += data.size();
      continue;
    }
    writer.open_file(*rel, attrs);
    std::optional<Hasher> hasher;
    if (options.record) hasher.emplace("sha256");
    ContentHash* content = options.tree ? &file_hash : nullptr;
    if (content) content->reset();
    if (incoming.size > 0) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      while ((r = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
        writer.write(buf, size, offset);
        if (hasher) hasher->update(buf, size);
        if (content) content->update_at(buf, size, static_cast<uint64_t>(offset));
        stats.bytes += size;
        check_ratio();
      }
      if (r != ARCHIVE_EOF) throw in.fail("reading '" + raw + "' (truncated or corrupt archive)");
    }
    writer.close_file(incoming.size);
    if (hasher) (*options.record)[*rel] = {incoming.size, incoming.mode, incoming.mtime, hasher->hex_digest()};
    if (content) options.tree->file(*rel, attrs.perm, incoming.size, attrs.mtime, content->digest(incoming.size).view());
  }
  writer.finish();
  if (root_mtime) {
    struct timespec times[2] = {{*root_mtime, 0}, {*root_mtime, 0}};
    utimensat(AT_FDCWD, root.c_str(), times, 0);
  }
  return stats;
}

}  // namespace haul
