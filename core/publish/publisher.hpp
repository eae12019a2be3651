// SPDX-License-Identifier: Apache-2.0
// `haul publish`: upload an artifact, render and upload one manifest per role
// and stage, sign them, and replace each desired-release pointer — in the
// order that keeps every reader consistent: artifact, then each signature,
// then its manifest, then its pointer. A reader never finds a manifest whose
// artifact or signature is missing, nor a pointer ahead of its manifest.
// Uploads go through the source plugins' store callback (file://, s3://,
// http(s):// PUT), so publishing reaches exactly the stores deploys read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "transfer/fetcher.hpp"
#include "publish/manifest_render.hpp"
#include "signing/ed25519.hpp"

namespace haul {

// What differs between stages: where and how agents place the release.
struct StageSettings {
  std::string dest;
  SyncStrategy sync_strategy = SyncStrategy::rsync;
  std::optional<unsigned> dest_mode;
  int keep_releases = 0;
  std::vector<std::string> linked_dirs, linked_files, excludes;
  std::string exclude_from;
};

// A release index's chunks in no pack yet that make a publish pack them
// (haul publish --pack-chunks; publish/chunked_publish.hpp).
constexpr uint64_t kDefaultPackMinChunks = 1024;

struct PublishRequest {
  std::filesystem::path artifact;
  std::string artifact_prefix;  // the artifact goes to <prefix>/<release>/<file name>
  std::string manifest_prefix;  // manifests, signatures, pointers go here (default: artifact_prefix)
  std::vector<std::string> roles;
  std::map<std::string, StageSettings> stages;
  HooksFile hooks;
  std::string release;   // id; see default_release_id()
  int64_t created_at = 0;
  std::optional<Ed25519Key> sign_key;
  bool write_pointers = true;
  uint64_t pack_min_chunks = kDefaultPackMinChunks;
};

struct PublishedManifest {
  std::string role, stage;
  std::string url, sha256, signature_url, pointer_url;
};

struct PublishResult {
  std::string artifact_url, artifact_sha256;
  uint64_t artifact_bytes = 0;
  uint64_t chunks_uploaded = 0, chunk_bytes_uploaded = 0;  // a chunked release (a release index)
  std::vector<PublishedManifest> manifests;
};

using PublishLog = std::function<void(const std::string&)>;

PublishResult publish_release(const PublishRequest& request, const SourceSet& sources, const PublishLog& log);

// "20261126T101500Z", plus "-<first 7 of revision>" when one is given.
std::string default_release_id(int64_t unix_seconds, const std::string& revision = "");
std::string join_url(const std::string& prefix, const std::string& name);
std::string manifest_name(const std::string& role, const std::string& stage);  // manifest_web_production.yml
std::string pointer_name(const std::string& role, const std::string& stage);   // latest_web_production.yml
// A manifest as haul publish wrote it, read on the build side: {{ env }} is
// the agents' to fill, so any value stands in for it. Throws like parse_manifest.
Manifest parse_published_manifest(const std::string& text, const std::string& origin);

}  // namespace haul
