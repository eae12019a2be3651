// SPDX-License-Identifier: Apache-2.0
#include "extract/entry_guard.hpp"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

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

// Is an absolute `target` inside one of the operator's folders? Judged on
// the normalized path, at a component boundary: /srv/shared-evil is not
// under /srv/shared, nor is /srv/shared/../../etc.
bool under_allowed_prefix(const std::string& target, const std::vector<std::string>& prefixes) {
  if (target.empty() || target[0] != '/') return false;
  const std::string path = std::filesystem::path(target).lexically_normal().string();
  for (const std::string& prefix : prefixes) {
    if (path == prefix) return true;
    if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 && path[prefix.size()] == '/')
      return true;
  }
  return false;
}

std::string symlink_refusal(const std::string& target, const std::vector<std::string>& prefixes) {
  if (target.empty() || target[0] != '/')
    return "; refusing to extract (a link out of the release must be absolute, under a folder listed in "
           "deploy.allow_symlink_targets)";
  std::string listed;
  for (const auto& p : prefixes) listed += (listed.empty() ? "" : ", ") + p;
  const std::string folder = std::filesystem::path(target).lexically_normal().string();
  return prefixes.empty()
             ? "; refusing to extract (to place links into a folder outside the release, list it in the pipeline "
               "config: deploy: { allow_symlink_targets: [" + folder + "] }, or --allow-symlink-target " + folder + ")"
             : "; refusing to extract (not under deploy.allow_symlink_targets: " + listed + ")";
}

}  // namespace

// The archive path without "./" prefixes; nullopt for the root entry itself.
std::optional<std::string> EntryGuard::relative_name(const std::string& raw) const {
  auto refuse = [&](const std::string& why) {
    return Error(origin_ + ": archive entry '" + raw + "' " + why + "; refusing to extract");
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

const std::string* EntryGuard::through_symlink(const std::string& rel) const {
  if (symlinks_.empty()) return nullptr;
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
    auto it = symlinks_.find(rel.substr(0, slash));
    if (it != symlinks_.end()) return &*it;
  }
  return nullptr;
}

AdmittedEntry EntryGuard::admit(struct archive_entry* entry, uint64_t out_bytes) {
  AdmittedEntry e;
  e.raw = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
  e.type = archive_entry_filetype(entry);
  const char* hardlink = archive_entry_hardlink(entry);
  if (e.type != AE_IFREG && e.type != AE_IFDIR && e.type != AE_IFLNK && !hardlink)
    throw Error(origin_ + ": archive entry '" + e.raw +
                "' is a device, FIFO or socket; only files, directories and links are deployed");
  if (++entries_ > limits_.max_entries)
    throw Error(origin_ + ": more than " + std::to_string(limits_.max_entries) +
                " entries; refusing to extract (raise deploy.max_entries if this is intended)");
  e.declared = static_cast<uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry)));
  if (out_bytes + e.declared > limits_.max_bytes)
    throw Error(origin_ + ": archive entry '" + e.raw + "' would take the release past " +
                format_bytes(limits_.max_bytes) + "; refusing to extract (deploy.max_extract_bytes)");
  e.attrs.mtime = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
  e.rel = relative_name(e.raw);
  if (!e.rel) return e;  // the "./" entry: its mtime belongs to the folder itself
  const std::string& rel = *e.rel;
  e.symlink_target = e.type == AE_IFLNK ? archive_entry_symlink(entry) : nullptr;
  if (e.type == AE_IFLNK && (!e.symlink_target || !link_stays_inside(rel, e.symlink_target)) &&
      !(e.symlink_target && under_allowed_prefix(e.symlink_target, limits_.symlink_target_prefixes))) {
    const std::string target = e.symlink_target ? e.symlink_target : "";
    throw Error(origin_ + ": archive entry '" + e.raw + "' is a symlink to '" + target + "', outside the release" +
                symlink_refusal(target, limits_.symlink_target_prefixes));
  }
  e.attrs.perm = archive_entry_perm(entry);
  if ((e.attrs.perm & 06000) && e.type == AE_IFREG && !limits_.allow_setuid) {
    e.attrs.perm &= ~06000u;
    e.dropped_setuid = true;
  }
  e.attrs.atime = archive_entry_atime_is_set(entry)
                      ? timespec{archive_entry_atime(entry), archive_entry_atime_nsec(entry)}
                      : e.attrs.mtime;
  if (const std::string* link = through_symlink(rel))
    throw Error(origin_ + ": archive entry '" + e.raw + "' goes through the symlink '" + *link +
                "' made earlier in the archive; refusing to extract");
  if (hardlink) {
    auto target = relative_name(hardlink);
    if (!target) throw Error(origin_ + ": archive entry '" + e.raw + "' is a hard link to the archive root");
    if (const std::string* via = through_symlink(*target))
      throw Error(origin_ + ": archive entry '" + e.raw + "' is a hard link through the symlink '" + *via +
                  "'; refusing to extract");
    e.hardlink_to = *target;
    // A hard link to a symlink is another symlink.
    if (symlinks_.count(*target)) symlinks_.insert(rel);
  }
  // A path once a symlink stays blocked, even if a later entry replaces it
  // (a directory entry may keep the symlink in place).
  if (e.type == AE_IFLNK) symlinks_.insert(rel);
  return e;
}

void EntryGuard::check_ratio(uint64_t out_bytes, uint64_t in_bytes) const {
  if (out_bytes > (64ull << 20) && out_bytes > limits_.max_ratio * std::max<uint64_t>(in_bytes, 1))
    throw Error(origin_ + ": " + format_bytes(out_bytes) + " extracted from " + format_bytes(in_bytes) +
                " of archive, a ratio above " + std::to_string(limits_.max_ratio) +
                ":1 — a decompression bomb? refusing to extract (deploy.max_compression_ratio)");
}

}  // namespace haul
