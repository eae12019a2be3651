// SPDX-License-Identifier: Apache-2.0
// `haul pack`: a folder into a reproducible tarball. The same tree gives the
// same bytes on any machine: entries in byte order of their paths (a folder
// before what it holds), owner and group 0 with no names, no atime/ctime, the
// gzip header without a timestamp, and mtimes kept, set (--mtime) or clamped
// (--clamp-mtime, or SOURCE_DATE_EPOCH). Excludes follow rsync's rules (the
// same engine the manifest's `excludes` use): --exclude, then the tree's
// .haulignore, then the built-in ".git/" (a "+ .git/" line keeps it).
// The tarball is written to a temporary file beside the output and renamed
// into place, so a failed pack leaves no half artifact.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace haul {

enum class PackFormat { tar_gz, tar_zst, tar };

// "tar.gz" / "tgz", "tar.zst" / "tzst", "tar"; throws for anything else.
PackFormat parse_pack_format(const std::string& name);
const char* extension(PackFormat f);  // "tar.gz", ...
// The format a file name says (.tar.gz/.tgz, .tar.zst/.tzst, .tar), if any.
std::optional<PackFormat> pack_format_of_name(const std::string& name);

// A file the pack adds that is not in the tree (REVISION for git sources).
struct ExtraFile {
  std::string name;
  std::string content;
};

struct PackOptions {
  std::filesystem::path source;
  std::filesystem::path output;
  PackFormat format = PackFormat::tar_gz;
  int level = -1;  // -1: the compressor's default (gzip 6, zstd 3)
  std::vector<std::string> excludes;
  bool read_haulignore = true;
  std::optional<int64_t> mtime;  // every entry gets this mtime (unix seconds)
  bool clamp_mtime = false;      // only entries newer than mtime get it
  std::vector<ExtraFile> extra_files;
  // Called now and then with the tree bytes read so far.
  std::function<void(uint64_t bytes_in, uint64_t bytes_out)> progress;
};

struct PackResult {
  uint64_t files = 0, dirs = 0, symlinks = 0, hardlinks = 0;
  uint64_t bytes_in = 0;   // file contents packed
  uint64_t bytes_out = 0;  // size of the tarball
  std::string sha256;      // of the tarball
  std::vector<std::string> skipped;  // sockets, FIFOs, devices: not packable
};

PackResult pack_tree(const PackOptions& options);

}  // namespace haul
