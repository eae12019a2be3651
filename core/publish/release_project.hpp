// SPDX-License-Identifier: Apache-2.0
// haul-release.yaml: everything `haul release` needs to go from a checkout
// to a fleet-wide deploy in one command — what to pack, where to upload, how
// to render the manifests of each stage, how to sign, and how to kick.
//
//   app: shop                       # the artifact's name (default: the folder's)
//   source: .                       # a folder, relative to this file ...
//   git: {repo: ., ref: main}       # ... or a commit (REVISION, commit-time mtimes)
//   format: tar.gz                  # tar.gz | tar.zst | tar | chunked (delta releases);  level: 9
//   pack_chunks: 1024               # chunked: pack once this many chunks are in no pack (0: never)
//   exclude: [log/, tmp/]           # left out of the tarball (plus .haulignore)
//   store: s3://bucket/shop         # artifacts: <store>/<release>/shop.tar.gz
//   manifests: s3://bucket/shop/manifests   # default: store
//   hooks: config/haul-hooks.yml    # default: + <role>: blocks of commands
//   roles: [web, worker]
//   stages:
//     production: {dest: /srv/shop, sync_strategy: release, keep_releases: 5, linked_dirs: [log]}
//   sign: keys/release.key          # optional
//   kick: {via: consul, event: "deploy_{role}_{stage}", service: shop, token: ...}   # or kick: false
//   sources: {s3: {endpoint: "http://127.0.0.1:4568"}}   # upload plugin settings
//
// {{ env "NAME" }} works as in manifests, so tokens stay out of the file.
// Relative paths are taken from the file's folder.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "publish/kicker.hpp"
#include "publish/packer.hpp"
#include "publish/publisher.hpp"

namespace haul {

struct ReleaseProject {
  std::string origin;
  std::string app;
  std::string source_dir;          // or
  std::string git_repo, git_ref;
  PackFormat format = PackFormat::tar_gz;
  bool chunked = false;  // format: chunked — a release index and its chunks
  int level = -1;
  uint64_t pack_chunks = kDefaultPackMinChunks;  // chunked only: haul publish --pack-chunks
  std::vector<std::string> excludes;
  std::optional<int64_t> mtime;
  std::string store, manifests;
  std::string hooks_file;
  std::vector<std::string> roles;
  std::map<std::string, StageSettings> stages;
  std::string sign_key;
  bool pointers = true;
  bool kick_enabled = true;
  KickSettings kick;
  std::map<std::string, PluginUse> sources;
};

ReleaseProject parse_release_project(const std::string& text, const std::string& origin);
ReleaseProject load_release_project(const std::string& path);

}  // namespace haul
