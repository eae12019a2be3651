// SPDX-License-Identifier: Apache-2.0
#include "config/deploy_options.hpp"

#include <filesystem>

#include "config/yaml_util.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {

std::string symlink_target_prefix(const std::string& dir, const std::string& where) {
  if (dir.empty() || dir[0] != '/')
    throw Error(where + ": expected an absolute folder like /var/log/app, got '" + dir + "'");
  std::string normal = std::filesystem::path(dir).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  if (normal == "/")
    throw Error(where + ": '" + dir + "' would let a release link anywhere; name the folders its links point into");
  return normal;
}

DeployOptions parse_deploy_options(const YAML::Node& node, const std::string& origin,
                                   const std::string& path) {
  ConfigErrors errors(origin);
  DeployOptions d = parse_deploy_options(node, origin, path, errors);
  errors.throw_if_any();
  return d;
}

DeployOptions parse_deploy_options(const YAML::Node& node, const std::string& origin,
                                   const std::string& path, ConfigErrors& errors) {
  DeployOptions d;
  if (!node.IsDefined() || node.IsNull()) return d;
  if (!node.IsMap()) {
    errors.add(yaml_where(origin, node) + ": " + path + ": expected a map, got " + yaml_kind(node));
    return d;
  }
  reject_unknown_keys(node,
                      {"random_delay", "retry", "retry_wait", "retry_missing", "timeout", "max_bandwidth",
                       "rsync_verbose", "keep_releases", "lock_timeout", "max_extract_bytes", "max_entries",
                       "max_compression_ratio", "allow_setuid", "allow_symlink_targets", "trusted_keys", "strict"},
                      origin, path, errors);
  // Each field is checked on its own: a wrong one is reported and keeps its default.
  auto field = [&](const char* key, const std::function<void(const std::string& text)>& take) {
    if (!node[key].IsDefined()) return;
    errors.collect([&] { take(yaml_string(node[key], origin, path + "." + key)); });
  };
  auto fail = [&](const char* key, const std::string& expected, const std::string& got) {
    return Error(yaml_where(origin, node[key]) + ": " + path + "." + key + ": expected " + expected + ", got '" + got + "'");
  };
  auto duration = [&](const char* key, std::chrono::milliseconds& out) {
    field(key, [&](const std::string& text) {
      auto v = parse_duration(text);
      if (!v) throw fail(key, "a duration like 500ms, 10s, 1m30s", text);
      out = *v;
    });
  };
  duration("random_delay", d.random_delay);
  duration("retry_wait", d.retry_wait);
  duration("timeout", d.timeout);
  duration("lock_timeout", d.lock_timeout);
  field("keep_releases", [&](const std::string& text) {
    if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), ::isdigit) || std::stoi(text) < 1)
      throw fail("keep_releases", "a whole number of at least 1", text);
    d.keep_releases = std::stoi(text);
  });
  field("retry", [&](const std::string& text) {
    try {
      size_t used = 0;
      const int retry = std::stoi(text, &used);
      if (used != text.size() || retry < 0) throw std::invalid_argument("negative");
      d.retry = retry;
    } catch (const std::logic_error&) {
      throw fail("retry", "a whole number of retries (0 or more)", text);
    }
  });
  auto whole = [&](const char* key, uint64_t& out) {
    field(key, [&](const std::string& text) {
      if (text.empty() || text.size() > 18 || !std::all_of(text.begin(), text.end(), ::isdigit) || std::stoull(text) == 0)
        throw fail(key, "a whole number above 0", text);
      out = std::stoull(text);
    });
  };
  whole("max_entries", d.max_entries);
  whole("max_compression_ratio", d.max_compression_ratio);
  field("max_extract_bytes", [&](const std::string& text) {
    auto v = parse_bytes(text);
    if (!v) throw fail("max_extract_bytes", "a size like 2GiB", text);
    d.max_extract_bytes = *v;
  });
  auto boolean = [&](const char* key, bool& out) {
    field(key, [&](const std::string& text) {
      if (text != "true" && text != "false") throw fail(key, "true or false", text);
      out = text == "true";
    });
  };
  boolean("allow_setuid", d.allow_setuid);
  boolean("retry_missing", d.retry_missing);
  boolean("strict", d.strict);
  errors.collect([&] {
    const std::string at = path + ".allow_symlink_targets";
    for (const auto& dir : yaml_string_list(node["allow_symlink_targets"], origin, at))
      d.allow_symlink_targets.push_back(symlink_target_prefix(dir, yaml_where(origin, node["allow_symlink_targets"]) + ": " + at));
  });
  errors.collect([&] {
    for (const auto& key : yaml_string_list(node["trusted_keys"], origin, path + ".trusted_keys")) {
      std::filesystem::path p = key;
      if (p.is_relative() && origin.find('(') != 0) p = std::filesystem::path(origin).parent_path() / p;
      d.trusted_keys.push_back(p.lexically_normal().string());
    }
  });
  field("max_bandwidth", [&](const std::string& text) {
    auto v = parse_bytes(text);
    if (!v) throw fail("max_bandwidth", "bytes per second like 800k, 10M, 1.5MiB", text);
    d.max_bandwidth_bytes_per_s = *v;
  });
  if (node["rsync_verbose"].IsDefined())
    errors.collect([&] {
      d.rsync_verbose = node["rsync_verbose"].IsNull() ? "" : yaml_string(node["rsync_verbose"], origin, path + ".rsync_verbose");
    });
  return d;
}

}  // namespace haul
