// SPDX-License-Identifier: Apache-2.0
// A private temporary folder, removed with everything in it when the object
// goes out of scope (the publish side's git exports and rendered manifests).
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "util/error.hpp"

namespace haul {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix, std::filesystem::path parent = {}) {
    if (parent.empty()) parent = std::filesystem::temp_directory_path();
    std::string tmpl = (parent / (prefix + "-XXXXXX")).string();
    if (!mkdtemp(tmpl.data()))
      throw Error("cannot create a temporary folder in " + parent.string() + ": " + std::strerror(errno));
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace haul
