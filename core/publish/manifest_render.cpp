// SPDX-License-Identifier: Apache-2.0
#include "publish/manifest_render.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "config/yaml_util.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {

namespace {


// One block; which phases it sets (a phase set to [] counts: it clears default's).
struct Block {
  Commands commands;
  std::vector<std::string> set;
};

Block parse_block(const YAML::Node& node, const std::string& origin, const std::string& name) {
  Block b;
  if (node.IsNull()) return b;
  if (!node.IsMap())
    throw Error(yaml_where(origin, node) + ": " + name + ": expected a map of phases (pre, post, success, failure, verify, rollback), got " +
                yaml_kind(node));
  // yaml-cpp does not apply merge keys: lay a "<<" map (or list of maps) under the block.
  const YAML::Node merge = node["<<"];
  if (merge.IsDefined()) {
    std::vector<YAML::Node> bases;
    if (merge.IsSequence())
      for (const auto& m : merge) bases.push_back(m);
    else
      bases.push_back(merge);
    for (const auto& base : bases) {
      Block inherited = parse_block(base, origin, name + ".<<");
      for (const auto& p : inherited.set)
        if (std::find(b.set.begin(), b.set.end(), p) == b.set.end()) {
          *b.commands.of(p) = *inherited.commands.of(p);
          b.set.push_back(p);
        }
    }
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (key == "<<") continue;
    if (!b.commands.of(key)) {
      std::string valid;
      for (const auto& p : Commands::phases()) valid += (valid.empty() ? "" : ", ") + p;
      throw Error(yaml_where(origin, kv.first) + ": " + name + ": unknown phase '" + key + "'; expected " + valid);
    }
    *b.commands.of(key) = yaml_string_list(kv.second, origin, name + "." + key);
    if (std::find(b.set.begin(), b.set.end(), key) == b.set.end()) b.set.push_back(key);
  }
  return b;
}

void emit_list(YAML::Emitter& out, const char* key, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const auto& i : items) out << i;
  out << YAML::EndSeq;
}

}  // namespace

Commands HooksFile::for_role(const std::string& role) const {
  auto it = roles.find(role);
  return it == roles.end() ? defaults : it->second;
}

HooksFile parse_hooks_file(const std::string& text, const std::string& origin) {
  HooksFile h;
  h.origin = origin;
  YAML::Node root = parse_yaml(text, origin);
  if (root.IsNull()) return h;
  if (!root.IsMap())
    throw Error(origin + ": a hooks file is a map of blocks (default:, then one per role), got " + yaml_kind(root));
  Block defaults;
  if (root["default"].IsDefined()) defaults = parse_block(root["default"], origin, "default");
  h.defaults = defaults.commands;
  for (const auto& kv : root) {
    const std::string role = kv.first.Scalar();
    if (role == "default") continue;
    Block b = parse_block(kv.second, origin, role);
    Commands c = defaults.commands;
    for (const auto& p : b.set) *c.of(p) = *b.commands.of(p);
    h.roles[role] = c;
  }
  return h;
}

HooksFile load_hooks_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read hooks file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_hooks_file(ss.str(), path);
}

std::string render_manifest(const ManifestSpec& s) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!s.src.empty()) {
    out << YAML::Key << "src" << YAML::Value << s.src;
    out << YAML::Key << "checksum" << YAML::Value << s.checksum;
  }
  out << YAML::Key << "dest" << YAML::Value << s.dest;
  if (s.dest_mode) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "0%o", *s.dest_mode);
    out << YAML::Key << "dest_mode" << YAML::Value << YAML::DoubleQuoted << mode;
  }
  out << YAML::Key << "sync_strategy" << YAML::Value << to_string(s.sync_strategy);
  if (!s.release.empty()) out << YAML::Key << "release" << YAML::Value << s.release;
  if (s.created_at) out << YAML::Key << "created_at" << YAML::Value << format_timestamp(s.created_at);
  if (s.keep_releases) out << YAML::Key << "keep_releases" << YAML::Value << s.keep_releases;
  emit_list(out, "linked_dirs", s.linked_dirs);
  emit_list(out, "linked_files", s.linked_files);
  emit_list(out, "excludes", s.excludes);
  if (!s.exclude_from.empty()) out << YAML::Key << "exclude_from" << YAML::Value << s.exclude_from;
  const Commands& c = s.commands;
  if (!(c.pre.empty() && c.post.empty() && c.success.empty() && c.failure.empty() && c.verify.empty() &&
        c.rollback.empty())) {
    out << YAML::Key << "commands" << YAML::Value << YAML::BeginMap;
    emit_list(out, "pre", c.pre);
    emit_list(out, "post", c.post);
    emit_list(out, "verify", c.verify);
    emit_list(out, "success", c.success);
    emit_list(out, "failure", c.failure);
    emit_list(out, "rollback", c.rollback);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  if (!out.good()) throw Error("cannot render the manifest: " + out.GetLastError());
  std::string header = "# haul publish";
  if (!s.role.empty()) header += ": role " + s.role;
  if (!s.stage.empty()) header += ", stage " + s.stage;
  return header + "\n" + out.c_str() + "\n";
}

}  // namespace haul
