// SPDX-License-Identifier: Apache-2.0
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
//
// The writers put a line at `out`, which has room for line_room() bytes,
// and return its end: a deploy writes 44k of them on its busiest thread, so
// they format in place rather than through string appends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace haul {

inline constexpr std::string_view kTreeRecordMagic = "haul-tree 1";

// The most a line with these names can take (every character escaped).
inline size_t line_room(std::string_view a, std::string_view b = {}) { return 2 * (a.size() + b.size()) + 96; }

char* put_dir_line(char* out, std::string_view path, unsigned mode);
char* put_file_line(char* out, std::string_view path, unsigned mode, uint64_t size, const struct timespec& mtime,
                    std::string_view hash);  // hash: at most 32 characters
char* put_symlink_line(char* out, std::string_view path, std::string_view target);
char* put_hardlink_line(char* out, std::string_view path, std::string_view to);
char* put_meta_line(char* out, std::string_view key, std::string_view value);  // key: at most 16 characters

std::string unescape_record_field(std::string_view s);

}  // namespace haul
