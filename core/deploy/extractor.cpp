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
#include <unordered_set>
#include <vector>

#include "deploy/hasher.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

struct ReadState {
  const ChunkReader* read;
  std::string failure;
  uint64_t compressed = 0;  // bytes of the archive read so far
};

la_ssize_t read_callback(struct archive* a, void* ctx, const void** buf) {
  auto* st = static_cast<ReadState*>(ctx);
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

using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;

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
  // symlink without libarchive's SECURE_SYMLINKS, which opens and stats every
  // component of every entry's path (600k syscalls for a Rails tree).
  const std::filesystem::path root = std::filesystem::canonical(dir);
  if (std::filesystem::directory_iterator(root) != std::filesystem::directory_iterator())
    throw Error("cannot extract " + origin + " into " + root.string() + ": the folder must be empty");
  ArchivePtr in(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  ArchivePtr out(archive_write_disk_new(), archive_write_free);
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
  if (geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;  // as tar and rsync -a do for root
  archive_write_disk_set_options(out.get(), flags);
  archive_write_disk_set_standard_lookup(out.get());

  ReadState state{&read, {}};
  auto fail = [&](struct archive* a, const std::string& what) {
    if (!state.failure.empty()) return Error(state.failure);
    std::string msg = archive_error_string(a) ? archive_error_string(a) : "unknown error";
    return Error(origin + ": " + what + ": " + msg);
  };
  if (archive_read_open(in.get(), &state, nullptr, read_callback, nullptr) != ARCHIVE_OK)
    throw fail(in.get(), "not a tar archive (tar, tar.gz, tar.zst, tar.xz, tar.bz2 expected)");

  ExtractStats stats;
  uint64_t entry_count = 0;
  // A bomb shows as far more output than input: judged once past 64 MiB.
  auto check_ratio = [&] {
    const uint64_t out_bytes = stats.bytes + stats.linked_bytes;
    if (out_bytes > (64ull << 20) && out_bytes > options.limits.max_ratio * std::max<uint64_t>(state.compressed, 1))
      throw Error(origin + ": " + format_bytes(out_bytes) + " extracted from " + format_bytes(state.compressed) +
                  " of archive, a ratio above " + std::to_string(options.limits.max_ratio) +
                  ":1 — a decompression bomb? refusing to extract (deploy.max_compression_ratio)");
  };
  std::optional<time_t> root_mtime;
  std::set<std::string> symlinks;  // relative paths of the symlinks extracted so far
  std::unordered_set<std::string> absent_dirs;  // folders of the archive dest does not have
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
      if (stats.entries == 0 && state.failure.empty())
        throw fail(in.get(), "not a tar archive (tar, tar.gz, tar.zst, tar.xz, tar.bz2 expected)");
      throw fail(in.get(), "corrupt or truncated archive after " + std::to_string(stats.entries) + " entries");
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
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      if (!target || !link_stays_inside(*rel, target))
        throw Error(origin + ": archive entry '" + raw + "' is a symlink to '" + (target ? target : "") +
                    "', outside the release; refusing to extract");
    }
    if ((archive_entry_perm(entry) & 06000) && type == AE_IFREG && !options.limits.allow_setuid) {
      archive_entry_set_perm(entry, archive_entry_perm(entry) & ~06000u);
      ++stats.dropped_setuid;
    }
    if (const std::string* link = through_symlink(*rel))
      throw Error(origin + ": archive entry '" + raw + "' goes through the symlink '" + *link +
                  "' made earlier in the archive; refusing to extract");
    archive_entry_set_pathname(entry, (root / *rel).c_str());
    std::string hardlink_to;  // relative
    if (const char* link = archive_entry_hardlink(entry)) {
      auto target = relative_name(link, origin);
      if (!target)
        throw Error(origin + ": archive entry '" + raw + "' is a hard link to the archive root");
      if (const std::string* via = through_symlink(*target))
        throw Error(origin + ": archive entry '" + raw + "' is a hard link through the symlink '" + *via +
                    "'; refusing to extract");
      archive_entry_set_hardlink(entry, (root / *target).c_str());
      hardlink_to = *target;
      // A hard link to a symlink is another symlink.
      if (symlinks.count(*target)) symlinks.insert(*rel);
    }
    // A path once a symlink stays blocked, even if a later entry replaces it
    // (a directory entry may keep the symlink in place).
    if (type == AE_IFLNK) symlinks.insert(*rel);
    const bool plain_file = type == AE_IFREG && !archive_entry_hardlink(entry);
    // A folder dest holds with the same mode and mtime is not created here
    // either (its changed files get plain parents; the sync goes by *kept).
    // Under a folder dest lacks, nothing can be unchanged: no lookups there.
    const size_t slash = rel->rfind('/');
    const bool parent_absent = slash != std::string::npos && absent_dirs.count(rel->substr(0, slash));
    if (type == AE_IFDIR && options.kept && parent_absent) absent_dirs.insert(*rel);
    if (type == AE_IFDIR && options.kept && !parent_absent) {
      struct stat have;
      const std::string in_dest = (options.quick_check_dest / *rel).string();
      auto same_owner = [&] {
        return geteuid() != 0 || (have.st_uid == static_cast<uid_t>(archive_entry_uid(entry)) &&
                                  have.st_gid == static_cast<gid_t>(archive_entry_gid(entry)));
      };
      const int found = lstat(in_dest.c_str(), &have);
      if (found != 0 && errno == ENOENT) absent_dirs.insert(*rel);
      if (found == 0 && S_ISDIR(have.st_mode) &&
          (have.st_mode & 07777) == archive_entry_perm(entry) && have.st_mtim.tv_sec == archive_entry_mtime(entry) &&
          same_owner()) {
        (*options.kept)[*rel] = have;
        ++stats.entries;
        continue;
      }
    }
    if (plain_file && options.kept && !parent_absent && *rel != options.always_extract) {
      struct stat have;
      const std::string in_dest = (options.quick_check_dest / *rel).string();
      if (lstat(in_dest.c_str(), &have) == 0 && S_ISREG(have.st_mode) &&
          have.st_size == archive_entry_size(entry) && have.st_mtim.tv_sec == archive_entry_mtime(entry)) {
        struct stat want {};
        want.st_mode = S_IFREG | archive_entry_perm(entry);
        want.st_uid = static_cast<uid_t>(archive_entry_uid(entry));
        want.st_gid = static_cast<gid_t>(archive_entry_gid(entry));
        want.st_size = archive_entry_size(entry);
        want.st_mtim = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
        want.st_atim = want.st_mtim;
        (*options.kept)[*rel] = want;
        if (archive_read_data_skip(in.get()) != ARCHIVE_OK)
          throw fail(in.get(), "reading '" + raw + "' (truncated or corrupt archive)");
        ++stats.kept_files;
        ++stats.entries;
        continue;
      }
    }
    // A hard link to a file dest kept: link dest's file, on the same filesystem.
    if (options.kept && !hardlink_to.empty()) {
      const std::string& target = hardlink_to;
      if (options.kept->count(target)) {
        const std::filesystem::path at = root / *rel;
        std::error_code ec;
        std::filesystem::create_directories(at.parent_path(), ec);
        if (link((options.quick_check_dest / target).c_str(), at.c_str()) != 0)
          throw Error(origin + ": archive entry '" + raw + "': cannot link " + (options.quick_check_dest / target).string() +
                      ": " + std::strerror(errno));
        ++stats.entries;
        continue;
      }
    }
    const FileRecord incoming{static_cast<uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry))),
                              static_cast<unsigned>(archive_entry_perm(entry)), archive_entry_mtime(entry), ""};
    // A file that looks unchanged is read into memory and hashed first: if
    // its content matches the previous release's, it is linked, not written.
    const FileRecord* candidate = nullptr;
    if (plain_file && options.reuse && incoming.size > 0 && incoming.size <= kMaxReuseBytes) {
      auto it = options.reuse->find(*rel);
      if (it != options.reuse->end() && it->second.size == incoming.size && it->second.mode == incoming.mode &&
          it->second.mtime == incoming.mtime)
        candidate = &it->second;
    }
    if (candidate) {
      std::string data(incoming.size, '\0');
      la_ssize_t got = archive_read_data(in.get(), data.data(), data.size());
      if (got != static_cast<la_ssize_t>(data.size()))
        throw fail(in.get(), "reading '" + raw + "' (truncated or corrupt archive)");
      const std::string sum = sha256_hex(data.data(), data.size());
      if (options.record) (*options.record)[*rel] = {incoming.size, incoming.mode, incoming.mtime, sum};
      const std::filesystem::path target = root / *rel;
      if (sum == candidate->sha256) {
        std::error_code ec;
        std::filesystem::create_directories(target.parent_path(), ec);
        if (link((options.reuse_dir / *rel).c_str(), target.c_str()) == 0) {
          ++stats.linked_files;
          stats.linked_bytes += incoming.size;
          ++stats.entries;
          continue;
        }
      }
      if (archive_write_header(out.get(), entry) != ARCHIVE_OK) throw fail(out.get(), "archive entry '" + raw + "'");
      if (archive_write_data(out.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
        throw fail(out.get(), "writing '" + raw + "'");
      stats.bytes += data.size();
    } else {
      if (archive_write_header(out.get(), entry) != ARCHIVE_OK)
        throw fail(out.get(), "archive entry '" + raw + "'");
      std::optional<Hasher> hasher;
      if (plain_file && options.record) hasher.emplace("sha256");
      if (archive_entry_size(entry) > 0) {
        const void* buf;
        size_t size;
        la_int64_t offset;
        while ((r = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
          if (archive_write_data_block(out.get(), buf, size, offset) != ARCHIVE_OK)
            throw fail(out.get(), "writing '" + raw + "'");
          if (hasher) hasher->update(buf, size);
          stats.bytes += size;
          check_ratio();
        }
        if (r != ARCHIVE_EOF) throw fail(in.get(), "reading '" + raw + "' (truncated or corrupt archive)");
      }
      if (hasher) (*options.record)[*rel] = {incoming.size, incoming.mode, incoming.mtime, hasher->hex_digest()};
    }
    if (archive_write_finish_entry(out.get()) != ARCHIVE_OK)
      throw fail(out.get(), "finishing '" + raw + "'");
    ++stats.entries;
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) throw fail(out.get(), "finishing extraction");
  if (root_mtime) {
    struct timespec times[2] = {{*root_mtime, 0}, {*root_mtime, 0}};
    utimensat(AT_FDCWD, root.c_str(), times, 0);
  }
  return stats;
}

}  // namespace haul
