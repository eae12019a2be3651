// SPDX-License-Identifier: Apache-2.0
// The tree `haul pack` reads, in the order it packs it — shared by the
// tarball writer (packer.cpp) and the chunked one (chunked_pack.cpp), so
// both hold exactly the same entries: paths in byte order (a folder before
// what it holds) after the excludes (--exclude, the tree's .haulignore, the
// built-in ".git/"), extra files in place of tree files of the same name,
// and each entry's mtime as --mtime / --clamp-mtime / SOURCE_DATE_EPOCH say.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "publish/packer.hpp"

namespace haul {

struct PackEntry {
  std::string rel;             // '/'-separated, no leading "./"
  std::filesystem::path abs;   // empty for an extra file
  struct stat st {};
  const ExtraFile* extra = nullptr;
  int64_t mtime = 0;           // what the pack records
};

struct PackTree {
  std::vector<PackEntry> entries;
  std::vector<std::string> skipped;  // sockets, FIFOs, devices: not packable
};

// Checks the source and the mtime options; o.output, when set, is left out
// of the walk (a pack written into the tree it packs).
PackTree walk_pack_tree(const PackOptions& o);

}  // namespace haul
