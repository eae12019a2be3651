// SPDX-License-Identifier: Apache-2.0
#include "deploy/deploy_plan.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <unordered_set>
#include <sstream>

#include "sync/dest_file_compare.hpp"
#include "extract/tar_stream.hpp"
#include "util/dir_cursor.hpp"
#include "util/error.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

// "./a//b/" → "a/b"; "" for the root entry.
std::string clean(const std::string& raw) {
  std::string out;
  std::istringstream parts(raw);
  for (std::string part; std::getline(parts, part, '/');)
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + part;
  return out;
}

}  // namespace

DeployPlan plan_deploy(const ChunkReader& read, const fs::path& target, const std::string& origin,
                       const PlanOptions& options) {
  DeployPlan plan;
  TarStream in(read, origin);
  const std::string exclude_from = clean(options.exclude_from);
  std::unordered_set<std::string> in_release, dirs_in_release;
  // The target's entries are reached through its folders' descriptors, as
  // the deploy's quick check does, not by full paths.
  std::error_code ec;
  std::optional<DirCursor> cursor;
  if (fs::is_directory(target, ec)) cursor.emplace(target, false);
  struct archive_entry* entry = nullptr;
  int r;
  while ((r = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK) {
    const std::string rel = clean(archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "");
    const mode_t type = archive_entry_filetype(entry);
    if (rel.empty() || rel.find("..") != std::string::npos) {
      archive_read_data_skip(in.get());
      continue;
    }
    ++plan.entries;
    in_release.insert(rel);
    if (type == AE_IFDIR) dirs_in_release.insert(rel);
    // Folders on the way exist in the release too, listed or not (an archive
    // usually lists them first: the walk up stops at the first one known).
    for (size_t slash = rel.rfind('/'); slash != std::string::npos && slash > 0; slash = rel.rfind('/', slash - 1)) {
      std::string folder = rel.substr(0, slash);
      if (!dirs_in_release.insert(folder).second) break;
      in_release.insert(std::move(folder));
    }
    const auto [folder, name] = DirCursor::split(rel);
    const int dir_fd = cursor ? cursor->at(folder) : -1;
    const std::string name_text(name);
    struct stat have;
    const bool exists = dir_fd >= 0 && fstatat(dir_fd, name_text.c_str(), &have, AT_SYMLINK_NOFOLLOW) == 0;
    std::string verdict;  // "", "new", "changed"
    if (!exists) {
      verdict = "new";
    } else if (type == AE_IFDIR) {
      verdict = S_ISDIR(have.st_mode) ? "" : "changed";
    } else if (type == AE_IFLNK) {
      char buf[4096];
      const ssize_t n = readlinkat(dir_fd, name_text.c_str(), buf, sizeof buf);
      const char* want = archive_entry_symlink(entry);
      verdict = S_ISLNK(have.st_mode) && n >= 0 && want && std::string(buf, static_cast<size_t>(n)) == want ? "" : "changed";
    } else if (type != AE_IFREG || !S_ISREG(have.st_mode) || have.st_size != archive_entry_size(entry) ||
               have.st_mtim.tv_sec != archive_entry_mtime(entry)) {
      verdict = "changed";
    }
    // File contents: compared with the target's copy (size and mtime
    // matched) and, for exclude_from, kept.
    const bool compare = type == AE_IFREG && exists && verdict.empty();
    std::unique_ptr<DestFileCompare> cmp;
    if (compare) cmp = std::make_unique<DestFileCompare>(dir_fd, name_text);
    const bool keep_text = !exclude_from.empty() && rel == exclude_from;
    if (compare || keep_text) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      while ((r = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
        if (cmp) cmp->feed(buf, size, offset);
        if (keep_text && plan.exclude_from_text.size() < (1u << 20))
          plan.exclude_from_text.append(static_cast<const char*>(buf), size);
      }
      if (r != ARCHIVE_EOF) throw in.fail("reading '" + rel + "' (truncated or corrupt archive)");
      if (cmp && !cmp->same(static_cast<uint64_t>(archive_entry_size(entry)))) verdict = "changed";
    } else if (archive_read_data_skip(in.get()) != ARCHIVE_OK) {
      throw in.fail("reading '" + rel + "' (truncated or corrupt archive)");
    }
    if (verdict == "new") plan.created.push_back(rel);
    else if (verdict == "changed") plan.changed.push_back(rel);
    else ++plan.unchanged;
  }
  if (r != ARCHIVE_EOF) throw in.fail("corrupt or truncated archive after " + std::to_string(plan.entries) + " entries");

  ExcludeRules rules;
  if (options.apply_excludes) {
    for (const auto& p : options.excludes) rules.exclude(p);
    std::istringstream lines(plan.exclude_from_text);
    for (std::string line; std::getline(lines, line);) rules.add_line(line);
  }
  if (!cursor) return plan;
  // Every path under target starts with it and a slash: the rest is rel
  // (lexically_relative per entry cost more than the walk itself).
  const size_t prefix = (target / "").native().size();
  for (auto it = fs::recursive_directory_iterator(target / "", ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    ++plan.target_entries;
    const std::string rel = it->path().native().substr(prefix);
    const bool is_dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (in_release.count(rel) && (!is_dir || dirs_in_release.count(rel))) continue;
    if (options.apply_excludes && rules.excluded(rel, is_dir)) {
      plan.kept_by_excludes.push_back(rel + (is_dir ? "/" : ""));
      if (is_dir) it.disable_recursion_pending();
      continue;
    }
    plan.deleted.push_back(rel + (is_dir ? "/" : ""));
  }
  // A folder that holds something an exclude keeps is kept too (as rsync
  // and the sync do): it is not deleted, only emptied of the rest.
  std::set<std::string> holders;
  for (const auto& kept : plan.kept_by_excludes)
    for (size_t slash = kept.find('/'); slash != std::string::npos && slash + 1 < kept.size();
         slash = kept.find('/', slash + 1))
      holders.insert(kept.substr(0, slash + 1));
  plan.deleted.erase(std::remove_if(plan.deleted.begin(), plan.deleted.end(),
                                    [&](const std::string& d) { return holders.count(d) != 0; }),
                     plan.deleted.end());
  return plan;
}

}  // namespace haul
