#include "drift/tree_record_format.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>

namespace haul {
namespace {

void append_escaped(std::string& out, std::string_view s) {
  size_t plain = 0;  // runs without a special character are appended at once
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\\' && c != '\t' && c != '\n') continue;
    out.append(s.substr(plain, i - plain));
    out += '\\';
    out += c == '\t' ? 't' : c == '\n' ? 'n' : '\\';
    plain = i + 1;
  }
  out.append(s.substr(plain));
}

template <typename T>
void append_number(std::string& out, T value, int base = 10) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, base);
  out.append(buf, end);
}

void append_mode(std::string& out, unsigned mode) {
  char buf[8];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, mode & 07777u, 8);
  out.append(static_cast<size_t>(4 - std::min<std::ptrdiff_t>(4, end - buf)), '0');
  out.append(buf, end);
}

}  // namespace

void append_dir_line(std::string& out, std::string_view path, unsigned mode) {
  out += "d\t";
  append_mode(out, mode);
  out += '\t';
  append_escaped(out, path);
  out += '\n';
}

void append_file_line(std::string& out, std::string_view path, unsigned mode, uint64_t size,
                      const struct timespec& mtime, std::string_view hash) {
  out += "f\t";
  append_mode(out, mode);
  out += '\t';
  append_number(out, size);
  out += '\t';
  append_number(out, static_cast<int64_t>(mtime.tv_sec));
  out += '.';
  char ns[16];
  auto [end, ec] = std::to_chars(ns, ns + sizeof ns, static_cast<long>(mtime.tv_nsec));
  out.append(static_cast<size_t>(9 - std::min<std::ptrdiff_t>(9, end - ns)), '0');
  out.append(ns, end);
  out += '\t';
  out += hash;
  out += '\t';
  append_escaped(out, path);
  out += '\n';
}

void append_symlink_line(std::string& out, std::string_view path, std::string_view target) {
  out += "l\t";
  append_escaped(out, target);
  out += '\t';
  append_escaped(out, path);
  out += '\n';
}

void append_hardlink_line(std::string& out, std::string_view path, std::string_view to) {
  out += "h\t";
  append_escaped(out, to);
  out += '\t';
  append_escaped(out, path);
  out += '\n';
}

void append_meta_line(std::string& out, std::string_view key, std::string_view value) {
  out += "#\t";
  out += key;
  out += '\t';
  append_escaped(out, value);
  out += '\n';
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
