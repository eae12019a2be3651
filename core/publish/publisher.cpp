// SPDX-License-Identifier: Apache-2.0
#include "publish/publisher.hpp"

#include <ctime>
#include <fstream>

#include "config/desired_pointer.hpp"
#include "util/deploy_log.hpp"
#include "transfer/fetcher.hpp"
#include "publish/chunked_publish.hpp"
#include "util/digest.hpp"
#include "signing/manifest_signature.hpp"
#include "util/error.hpp"
#include "util/scratch_dir.hpp"
#include "util/units.hpp"

namespace fs = std::filesystem;

namespace haul {

namespace {

bool valid_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '-' || c == '_';
  });
}

std::string sha256_of_file(const fs::path& path, uint64_t& size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  Hasher h("sha256");
  std::vector<char> buf(1 << 20);
  size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    h.update(buf.data(), n);
    size += n;
  }
  return h.hex_digest();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw Error("cannot write " + path.string());
}

// The sha256 of what url holds now; nullopt when it cannot be read (absent,
// most likely — then the upload says what is wrong, if anything).
std::optional<std::string> sha256_of_url(const SourceSet& sources, const std::string& url) {
  Hasher hasher("sha256");
  StopSignal never;
  DeployLog fetch_log("publish");
  FetchPolicy once;
  once.retry = 0;
  try {
    fetch_stream(sources, url, once, never, fetch_log, [&](const void* d, size_t n) {
      hasher.update(d, n);
      return true;
    });
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return hasher.hex_digest();
}

}  // namespace

std::string default_release_id(int64_t unix_seconds, const std::string& revision) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return revision.empty() ? std::string(buf) : std::string(buf) + "-" + revision.substr(0, 7);
}

std::string join_url(const std::string& prefix, const std::string& name) {
  std::string p = prefix;
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p + "/" + name;
}

std::string manifest_name(const std::string& role, const std::string& stage) {
  return "manifest_" + role + "_" + stage + ".yml";
}

std::string pointer_name(const std::string& role, const std::string& stage) {
  return "latest_" + role + "_" + stage + ".yml";
}

Manifest parse_published_manifest(const std::string& text, const std::string& origin) {
  return parse_manifest(text, origin, [](const std::string&) { return std::optional<std::string>("x"); },
                        ManifestChecks{false, false});
}

PublishResult publish_release(const PublishRequest& req, const SourceSet& sources, const PublishLog& log) {
  if (!fs::is_regular_file(req.artifact))
    throw Error(req.artifact.string() + ": no such file; haul publish takes the tarball or release index haul pack wrote");
  if (req.artifact_prefix.empty()) throw Error("haul publish needs --to PREFIX (s3://bucket/app, file:///srv/releases/app, https://...)");
  if (req.roles.empty()) throw UsageError("haul publish needs at least one --role (e.g. --role web)");
  if (req.stages.empty()) throw Error("haul publish needs a stage (--stage production) with its dest");
  for (const auto& r : req.roles)
    if (!valid_name(r)) throw Error("role '" + r + "': use lower-case letters, digits, '-' and '_' (it names files and events)");
  for (const auto& [name, st] : req.stages) {
    if (!valid_name(name)) throw Error("stage '" + name + "': use lower-case letters, digits, '-' and '_' (it names files and events)");
    if (st.dest.empty() || st.dest[0] != '/') throw Error("stage " + name + ": dest: expected an absolute path on the servers, got '" + st.dest + "'");
  }
  const std::string manifest_prefix = req.manifest_prefix.empty() ? req.artifact_prefix : req.manifest_prefix;
  // Check every URL has a source that can store before anything is uploaded.
  for (const auto& url : {req.artifact_prefix + "/", manifest_prefix + "/"}) {
    SourceInstance& s = sources.for_url(url);
    if (!s.can_store())
      throw Error(url + ": the '" + s.plugin().name() + "' source plugin cannot upload (no store callback)");
  }

  PublishResult result;
  ScratchDir scratch("haul-publish");
  fs::path artifact = req.artifact;
  result.artifact_url = join_url(join_url(req.artifact_prefix, req.release), req.artifact.filename().string());
  if (is_release_index_file(req.artifact)) {
    std::vector<std::string> held_from;
    for (const auto& [stage, st] : req.stages)
      for (const auto& role : req.roles) held_from.push_back(join_url(manifest_prefix, manifest_name(role, stage)));
    const ChunkedPublish chunked = upload_release_chunks(req.artifact, join_url(req.artifact_prefix, ""),
                                                         result.artifact_url, held_from, sources, scratch.path(), log,
                                                         req.pack_min_chunks);
    artifact = chunked.index_file;
    result.chunks_uploaded = chunked.uploaded;
    result.chunk_bytes_uploaded = chunked.uploaded_bytes;
  }
  result.artifact_sha256 = sha256_of_file(artifact, result.artifact_bytes);
  // A release's artifact is immutable: manifests already out there name it
  // with its checksum. Same bytes again is fine (nothing to upload); other
  // bytes under the same name would make every such manifest fail.
  if (const auto existing = sha256_of_url(sources, result.artifact_url)) {
    if (*existing != result.artifact_sha256)
      throw Error(result.artifact_url + " already holds a different artifact (sha256 " + *existing + ", yours " +
                  result.artifact_sha256 + "): release " + req.release +
                  " was published before with other bytes, and manifests that name it would fail their checksum. "
                  "Publish it as a new release (--release), or remove the old object first");
    log("artifact " + result.artifact_url + " is already there with the same bytes; not uploaded again");
  } else {
    log("upload " + req.artifact.string() + " (" + format_bytes(result.artifact_bytes) + ") to " + result.artifact_url);
    sources.for_url(result.artifact_url).store(result.artifact_url, artifact.string(), "application/octet-stream");
  }

  for (const auto& [stage, st] : req.stages) {
    for (const auto& role : req.roles) {
      ManifestSpec spec;
      spec.role = role;
      spec.stage = stage;
      spec.src = result.artifact_url;
      spec.checksum = result.artifact_sha256;
      spec.dest = st.dest;
      spec.dest_mode = st.dest_mode;
      spec.sync_strategy = st.sync_strategy;
      spec.release = req.release;
      spec.created_at = req.created_at;
      spec.excludes = st.excludes;
      spec.exclude_from = st.exclude_from;
      spec.linked_dirs = st.linked_dirs;
      spec.linked_files = st.linked_files;
      spec.keep_releases = st.keep_releases;
      spec.commands = req.hooks.for_role(role);
      const std::string text = render_manifest(spec);
      // What agents will parse must parse: a bad entry fails here, not on the fleet.
      parse_published_manifest(text, manifest_name(role, stage));

      PublishedManifest m;
      m.role = role;
      m.stage = stage;
      m.url = join_url(manifest_prefix, manifest_name(role, stage));
      m.sha256 = sha256_hex(text);
      const fs::path file = scratch.path() / manifest_name(role, stage);
      write_text(file, text);
      if (req.sign_key) {
        m.signature_url = signature_url(m.url);
        const fs::path sig = file.string() + ".sig";
        write_text(sig, make_signature_file(*req.sign_key, text));
        sources.for_url(m.signature_url).store(m.signature_url, sig.string(), "text/plain");
      }
      sources.for_url(m.url).store(m.url, file.string(), "application/yaml");
      log("manifest " + m.url + (req.sign_key ? " (signed by key " + req.sign_key->id() + ")" : ""));
      if (req.write_pointers) {
        m.pointer_url = join_url(manifest_prefix, pointer_name(role, stage));
        const fs::path ptr = scratch.path() / pointer_name(role, stage);
        write_text(ptr, render_desired_pointer({m.url, m.sha256, req.release, req.created_at}));
        sources.for_url(m.pointer_url).store(m.pointer_url, ptr.string(), "application/yaml");
      }
      result.manifests.push_back(m);
    }
  }
  return result;
}

}  // namespace haul
