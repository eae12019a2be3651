// The text format of a content record, one line each, tab-separated, names
// escaped (\\ \t \n) so any path fits on its line:
//   haul-tree 1                       first line
//   d <mode, octal> <path>            a folder
//   f <mode> <size> <mtime s.ns> <hash> <path>
//   l <target> <path>                 a symlink
//   h <to> <path>                     a hard link to an earlier entry
//   # <key> <value>                   release, manifest, rule, linked
// Entries come in archive order (the deploy streams them as it extracts;
// a later entry replaces an earlier one). A line of another kind is from a
// newer haul and is skipped.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace haul {

inline constexpr std::string_view kTreeRecordMagic = "haul-tree 1";

void append_dir_line(std::string& out, std::string_view path, unsigned mode);
void append_file_line(std::string& out, std::string_view path, unsigned mode, uint64_t size,
                      const struct timespec& mtime, std::string_view hash);
void append_symlink_line(std::string& out, std::string_view path, std::string_view target);
void append_hardlink_line(std::string& out, std::string_view path, std::string_view to);
void append_meta_line(std::string& out, std::string_view key, std::string_view value);

std::string unescape_record_field(std::string_view s);

}  // namespace haul
