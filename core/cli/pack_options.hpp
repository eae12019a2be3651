// SPDX-License-Identifier: Apache-2.0
// The packing half shared by `haul pack` and `haul release`: the flags, a
// git export when asked, the progress line on a terminal, the summary.
#pragma once

#include <boost/program_options.hpp>

#include <filesystem>
#include <string>

#include "publish/chunked_pack.hpp"
#include "publish/packer.hpp"

namespace haul {

struct PackRequest {
  std::string dir;                 // pack this folder, or
  std::string git_repo, git_ref;   // this commit
  PackOptions options;             // source is filled by pack()
};

void add_pack_options(boost::program_options::options_description& desc);
PackRequest pack_request_from(const boost::program_options::variables_map& vm, const std::string& dir);
// "<name>.<ext>" in the working folder: the folder's name, or the repo's + short commit.
std::filesystem::path default_pack_output(const PackRequest& req);

struct PackedArtifact {
  std::filesystem::path path;
  PackResult result;
  std::string revision;  // the commit, for git sources
  int64_t commit_time = 0;
};

PackedArtifact pack(PackRequest req);

// `haul pack --chunked`: the index at req.options.output (path), chunks in store.
PackedArtifact pack_chunked_release(PackRequest req, const std::filesystem::path& store);

}  // namespace haul
