// SPDX-License-Identifier: Apache-2.0
#include "config/desired_pointer.hpp"

#include <algorithm>

#include "config/yaml_util.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {

std::string render_desired_pointer(const DesiredPointer& p) {
  return "manifest: " + p.manifest_url + "\nsha256: " + p.manifest_sha256 + "\nrelease: " + p.release +
         "\ncreated_at: " + format_timestamp(p.created_at) + "\n";
}

DesiredPointer parse_desired_pointer(const std::string& text, const std::string& origin) {
  YAML::Node root = parse_yaml(text, origin);
  if (!root.IsMap())
    throw Error(origin + ": a desired-release pointer is a map with manifest, sha256, release, created_at; got " +
                yaml_kind(root));
  DesiredPointer p;
  auto required = [&](const char* key) {
    if (!root[key].IsDefined() || root[key].IsNull())
      throw Error(origin + ": " + key + ": required (is this a latest_<role>_<stage>.yml written by haul publish?)");
    return yaml_string(root[key], origin, key);
  };
  p.manifest_url = required("manifest");
  p.manifest_sha256 = required("sha256");
  p.release = required("release");
  const std::string created = required("created_at");
  auto t = parse_timestamp(created);
  if (!t) throw Error(yaml_where(origin, root["created_at"]) + ": created_at: expected a UTC time, got '" + created + "'");
  p.created_at = *t;
  if (p.manifest_sha256.size() != 64 ||
      !std::all_of(p.manifest_sha256.begin(), p.manifest_sha256.end(), [](unsigned char c) { return std::isxdigit(c); }))
    throw Error(yaml_where(origin, root["sha256"]) + ": sha256: expected 64 hex digits");
  return p;
}

}  // namespace haul
