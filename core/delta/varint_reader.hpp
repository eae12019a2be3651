// SPDX-License-Identifier: Apache-2.0
// The varints (LEB128) an index and an index delta are written in, and a
// reader that checks every read against what is left: both come off the
// network.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace haul::delta {

inline void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Signed numbers as varints: small either side of zero stays short.
inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

class VarintReader {
 public:
  // subject: what errors name ("release index https://…/app.index").
  VarintReader(const std::string& data, std::string subject) : data_(data), subject_(std::move(subject)) {}
  uint64_t varint(const char* what) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) fail("ends inside " + std::string(what));
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(std::string(what) + " is not a valid number");
  }
  // The next n bytes, valid while the data is.
  std::string_view view(size_t n, const char* what) {
    if (n > data_.size() - pos_) fail("ends inside " + std::string(what));
    const std::string_view v = std::string_view(data_).substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string bytes(size_t n, const char* what) { return std::string(view(n, what)); }
  uint8_t byte(const char* what) { return static_cast<uint8_t>(view(1, what)[0]); }
  bool done() const { return pos_ == data_.size(); }
  size_t left() const { return data_.size() - pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(subject_ + ": " + why + " (at byte " + std::to_string(pos_) + " of the decoded bytes)");
  }

 private:
  const std::string& data_;
  const std::string subject_;
  size_t pos_ = 0;
};

}  // namespace haul::delta
