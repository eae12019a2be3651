// SPDX-License-Identifier: Apache-2.0
// Every mistake of a config file, collected instead of stopping at the
// first: each check adds what it found and the next one runs, so one run
// of haul names them all. Each message starts with "file:line:col: " where
// the place is known; they are reported in the order of the file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace haul {

class ConfigErrors {
 public:
  explicit ConfigErrors(std::string origin = "") : origin_(std::move(origin)) {}

  void add(const std::string& message);
  // Runs part; a haul::Error it throws is added and the caller goes on with
  // its next part. True when part ran through.
  bool collect(const std::function<void()>& part);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // In the order of the file (messages without a place first).
  std::vector<std::string> messages() const;
  // One Error naming them all: the only one as it is, else
  // "origin: N errors:" and one indented line each.
  Error error() const;
  void throw_if_any() const {
    if (!empty()) throw error();
  }

 private:
  struct Entry {
    size_t line = 0, column = 0;  // 0: no place in the file
    std::string message;
  };
  std::string origin_;
  std::vector<Entry> entries_;
};

}  // namespace haul
