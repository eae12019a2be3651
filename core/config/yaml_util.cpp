// SPDX-License-Identifier: Apache-2.0
#include "config/yaml_util.hpp"

#include <algorithm>

#include "util/error.hpp"
#include "util/suggest.hpp"

namespace haul {

YAML::Node parse_yaml(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = origin;
    if (!e.mark.is_null())
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw Error(where + ": invalid YAML: " + e.msg);
  }
}

std::string yaml_where(const std::string& origin, const YAML::Node& node) {
  if (!node.IsDefined() || node.Mark().is_null()) return origin;
  return origin + ":" + std::to_string(node.Mark().line + 1) + ":" + std::to_string(node.Mark().column + 1);
}

std::string yaml_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a string";
    case YAML::NodeType::Null: return "null";
    default: return "nothing";
  }
}

std::string yaml_string(const YAML::Node& node, const std::string& origin,
                        const std::string& field) {
  if (!node.IsScalar())
    throw Error(yaml_where(origin, node) + ": " + field + ": expected a string, got " +
                yaml_kind(node));
  return node.Scalar();
}

std::vector<std::string> yaml_string_list(const YAML::Node& node, const std::string& origin,
                                          const std::string& field) {
  std::vector<std::string> out;
  if (!node.IsDefined() || node.IsNull()) return out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence())
    throw Error(yaml_where(origin, node) + ": " + field + ": expected a list of strings, got " +
                yaml_kind(node));
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    if (!item.IsScalar()) {
      std::string hint = item.IsMap() ? " (an unquoted ': ' makes a map; quote the whole item)"
                                      : "";
      throw Error(yaml_where(origin, item) + ": " + field + "[" + std::to_string(i) +
                  "]: expected a string, got " + yaml_kind(item) + hint);
    }
    out.push_back(item.Scalar());
  }
  return out;
}

namespace {

// One message per key of map not in valid, without the list of valid keys.
std::vector<std::string> unknown_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                                      const std::string& origin, const std::string& field_path) {
  std::vector<std::string> unknown;
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    const auto near = closest_name(key, valid);
    unknown.push_back(yaml_where(origin, kv.first) + ": " + (field_path.empty() ? "" : field_path + ": ") +
                      "unknown key '" + key + "'" + (near ? " — did you mean '" + *near + "'?" : ""));
  }
  return unknown;
}

std::string valid_keys(const std::vector<std::string>& valid) {
  std::string list;
  for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
  return "(valid keys: " + list + ")";
}

}  // namespace

void reject_unknown_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                         const std::string& origin, const std::string& field_path) {
  const auto unknown = unknown_keys(map, valid, origin, field_path);
  if (unknown.empty()) return;
  std::string all;
  for (const auto& u : unknown) all += (all.empty() ? "" : "\n  ") + u;
  throw Error(all + (unknown.size() == 1 ? " " : "\n  ") + valid_keys(valid));
}

void reject_unknown_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                         const std::string& origin, const std::string& field_path, ConfigErrors& errors) {
  for (const auto& u : unknown_keys(map, valid, origin, field_path)) errors.add(u + " " + valid_keys(valid));
}

}  // namespace haul
