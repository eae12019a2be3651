// SPDX-License-Identifier: Apache-2.0
#include "publish/release_project.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/env_template.hpp"
#include "config/yaml_util.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace fs = std::filesystem;

namespace haul {

namespace {

std::string opt(const YAML::Node& map, const char* key, const std::string& origin, const std::string& path) {
  const YAML::Node n = map[key];
  return n.IsDefined() && !n.IsNull() ? yaml_string(n, origin, path + key) : std::string();
}

bool boolean(const YAML::Node& n, const std::string& origin, const std::string& field) {
  const std::string t = yaml_string(n, origin, field);
  if (t == "true") return true;
  if (t == "false") return false;
  throw Error(yaml_where(origin, n) + ": " + field + ": expected true or false, got '" + t + "'");
}

int whole(const YAML::Node& n, const std::string& origin, const std::string& field, int min, int max) {
  const std::string t = yaml_string(n, origin, field);
  try {
    size_t used = 0;
    int v = std::stoi(t, &used);
    if (used == t.size() && v >= min && v <= max) return v;
  } catch (const std::logic_error&) {
  }
  throw Error(yaml_where(origin, n) + ": " + field + ": expected a whole number from " + std::to_string(min) + " to " +
              std::to_string(max) + ", got '" + t + "'");
}

StageSettings parse_stage(const YAML::Node& node, const std::string& origin, const std::string& path) {
  if (!node.IsMap()) throw Error(yaml_where(origin, node) + ": " + path + ": expected a map with at least dest");
  reject_unknown_keys(node, {"dest", "sync_strategy", "dest_mode", "keep_releases", "linked_dirs", "linked_files",
                             "excludes", "exclude_from"}, origin, path);
  StageSettings s;
  s.dest = opt(node, "dest", origin, path + ".");
  if (s.dest.empty()) throw Error(yaml_where(origin, node) + ": " + path + ".dest: required (where the servers put the release)");
  const std::string strategy = opt(node, "sync_strategy", origin, path + ".");
  auto st = parse_sync_strategy(strategy);
  if (!st) throw Error(yaml_where(origin, node["sync_strategy"]) + ": " + path + ".sync_strategy: unknown strategy '" + strategy + "'; expected rsync, mv or release");
  s.sync_strategy = *st;
  if (node["dest_mode"].IsDefined()) {
    const std::string m = yaml_string(node["dest_mode"], origin, path + ".dest_mode");
    auto mode = parse_octal_mode(m);
    if (!mode) throw Error(yaml_where(origin, node["dest_mode"]) + ": " + path + ".dest_mode: expected an octal mode in quotes, like \"0755\"");
    s.dest_mode = *mode;
  }
  if (node["keep_releases"].IsDefined()) s.keep_releases = whole(node["keep_releases"], origin, path + ".keep_releases", 1, 1000);
  s.linked_dirs = yaml_string_list(node["linked_dirs"], origin, path + ".linked_dirs");
  s.linked_files = yaml_string_list(node["linked_files"], origin, path + ".linked_files");
  s.excludes = yaml_string_list(node["excludes"], origin, path + ".excludes");
  s.exclude_from = opt(node, "exclude_from", origin, path + ".");
  return s;
}

void parse_kick(const YAML::Node& node, const std::string& origin, ReleaseProject& p) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (node.IsScalar()) {
    p.kick_enabled = boolean(node, origin, "kick");
    return;
  }
  if (!node.IsMap()) throw Error(yaml_where(origin, node) + ": kick: expected a map (via, event, token, ...) or false");
  reject_unknown_keys(node, {"via", "event", "address", "token", "datacenter", "ca_file", "cert_file", "key_file", "node",
                             "service", "tag", "serf_rpc_addr", "serf_rpc_auth", "max_event_bytes"},
                      origin, "kick");
  KickSettings& k = p.kick;
  if (auto v = opt(node, "via", origin, "kick."); !v.empty()) k.via = v;
  if (k.via != "consul" && k.via != "serf")
    throw Error(yaml_where(origin, node["via"]) + ": kick.via: expected consul or serf, got '" + k.via + "'");
  if (auto v = opt(node, "event", origin, "kick."); !v.empty()) k.name_template = v;
  k.consul.address = opt(node, "address", origin, "kick.");
  k.consul.token = opt(node, "token", origin, "kick.");
  k.consul.datacenter = opt(node, "datacenter", origin, "kick.");
  k.consul.ca_file = opt(node, "ca_file", origin, "kick.");
  k.consul.cert_file = opt(node, "cert_file", origin, "kick.");
  k.consul.key_file = opt(node, "key_file", origin, "kick.");
  k.node = opt(node, "node", origin, "kick.");
  k.service = opt(node, "service", origin, "kick.");
  k.tag = opt(node, "tag", origin, "kick.");
  k.serf_rpc_addr = opt(node, "serf_rpc_addr", origin, "kick.");
  k.serf_rpc_auth = opt(node, "serf_rpc_auth", origin, "kick.");
  if (node["max_event_bytes"].IsDefined())
    k.max_event_bytes = static_cast<size_t>(whole(node["max_event_bytes"], origin, "kick.max_event_bytes", 64, 1 << 20));
}

}  // namespace

ReleaseProject parse_release_project(const std::string& raw, const std::string& origin) {
  const std::string text = render_env_template(raw, origin);
  YAML::Node root = parse_yaml(text, origin);
  if (!root.IsMap()) throw Error(origin + ": expected a map (app, source, store, roles, stages, ...), got " + yaml_kind(root));
  reject_unknown_keys(root, {"app", "source", "git", "format", "level", "exclude", "mtime", "store", "manifests", "hooks",
                             "roles", "stages", "sign", "pointers", "kick", "sources", "pack_chunks"},
                      origin, "");
  ReleaseProject p;
  p.origin = origin;
  const fs::path base = fs::absolute(origin).parent_path();
  auto local = [&](const std::string& path) {
    if (path.empty() || fs::path(path).is_absolute()) return path;
    std::string p = (base / path).lexically_normal().string();
    if (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  };
  p.app = opt(root, "app", origin, "");
  p.source_dir = local(opt(root, "source", origin, ""));
  if (root["git"].IsDefined()) {
    const YAML::Node g = root["git"];
    if (!g.IsMap()) throw Error(yaml_where(origin, g) + ": git: expected a map with repo and ref");
    reject_unknown_keys(g, {"repo", "ref"}, origin, "git");
    p.git_repo = local(opt(g, "repo", origin, "git."));
    p.git_ref = opt(g, "ref", origin, "git.");
    if (p.git_repo.empty()) p.git_repo = base.string();
    if (p.git_ref.empty()) throw Error(yaml_where(origin, g) + ": git.ref: required (a branch, tag or commit)");
    if (!p.source_dir.empty()) throw Error(origin + ": give source (a folder) or git, not both");
  } else if (p.source_dir.empty()) {
    p.source_dir = base.string();
  }
  if (auto f = opt(root, "format", origin, ""); f == "chunked") {
    p.chunked = true;
  } else if (!f.empty()) {
    try {
      p.format = parse_pack_format(f);
    } catch (const Error&) {
      throw Error(yaml_where(origin, root["format"]) + ": format: expected tar.gz, tar.zst, tar or chunked, got '" + f + "'");
    }
  }
  if (root["level"].IsDefined()) p.level = whole(root["level"], origin, "level", 0, 22);
  if (p.chunked && p.level >= 0)
    throw Error(yaml_where(origin, root["level"]) + ": level: format chunked compresses each chunk with zstd -3; leave out level");
  if (root["pack_chunks"].IsDefined()) {
    if (!p.chunked)
      throw Error(yaml_where(origin, root["pack_chunks"]) + ": pack_chunks: only format chunked has chunks to pack");
    p.pack_chunks = static_cast<uint64_t>(whole(root["pack_chunks"], origin, "pack_chunks", 0, 1 << 30));
  }
  p.excludes = yaml_string_list(root["exclude"], origin, "exclude");
  if (auto m = opt(root, "mtime", origin, ""); !m.empty()) {
    p.mtime = parse_timestamp(m);
    if (!p.mtime) throw Error(yaml_where(origin, root["mtime"]) + ": mtime: expected unix seconds or 2026-11-26T10:00:00Z");
  }
  p.store = opt(root, "store", origin, "");
  if (p.store.empty()) throw Error(origin + ": store: required (where artifacts go, e.g. s3://bucket/app)");
  p.manifests = opt(root, "manifests", origin, "");
  p.hooks_file = local(opt(root, "hooks", origin, ""));
  p.roles = yaml_string_list(root["roles"], origin, "roles");
  if (p.roles.empty()) throw Error(origin + ": roles: required (e.g. roles: [web, worker])");
  const YAML::Node stages = root["stages"];
  if (!stages.IsDefined() || !stages.IsMap() || stages.size() == 0)
    throw Error(yaml_where(origin, stages.IsDefined() ? stages : root) +
                ": stages: expected a map of stages, e.g. stages: {production: {dest: /srv/app}}");
  for (const auto& kv : stages)
    p.stages[kv.first.Scalar()] = parse_stage(kv.second, origin, "stages." + kv.first.Scalar());
  p.sign_key = local(opt(root, "sign", origin, ""));
  if (root["pointers"].IsDefined()) p.pointers = boolean(root["pointers"], origin, "pointers");
  parse_kick(root["kick"], origin, p);
  p.sources = parse_source_settings(root["sources"], origin, "sources");
  return p;
}

ReleaseProject load_release_project(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read " + path + " (haul release reads its settings from haul-release.yaml; see README)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_release_project(ss.str(), path);
}

}  // namespace haul
