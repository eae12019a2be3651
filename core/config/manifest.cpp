// SPDX-License-Identifier: Apache-2.0
#include "config/manifest.hpp"

#include "config/config_errors.hpp"

#include <algorithm>
#include <cctype>

#include <filesystem>

#include "config/yaml_util.hpp"
#include "util/suggest.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

const std::vector<std::string> kKnownFields = {"src",          "checksum",      "dest",         "dest_mode",
                                               "commands",     "excludes",      "exclude_from", "sync_strategy",
                                               "release",      "linked_dirs",   "linked_files", "keep_releases",
                                               "command_timeout", "created_at"};

// Folders whose replacement by a release would wreck the host: rsync's
// --delete semantics would empty them of everything else.
const std::vector<std::string> kSystemFolders = {
    "/bin",  "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
    "/opt",  "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys",   "/tmp",   "/usr",   "/var"};

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// A path inside the release: relative, no '..', not empty.
std::string release_path(const std::string& p, const std::string& where) {
  if (p.empty() || p[0] == '/' || p == "." || p.find("..") != std::string::npos)
    throw Error(where + ": '" + p + "' must be a relative path inside the release, like log or config/database.yml");
  std::string out = p;
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

unsigned parse_mode(const YAML::Node& node, const std::string& origin) {
  std::string text = yaml_string(node, origin, "dest_mode");
  std::string where = yaml_where(origin, node) + ": dest_mode: ";
  if (!(text.rfind("0o", 0) == 0 || (text.size() > 1 && text[0] == '0') || text == "0"))
    throw Error(where + "'" + text + "' is ambiguous; write the mode in octal with a leading 0, e.g. 0755");
  auto mode = parse_octal_mode(text);
  if (!mode) throw Error(where + "'" + text + "' is not an octal file mode like 0755");
  return *mode;
}

}  // namespace

const std::vector<std::string>& Commands::phases() {
  static const std::vector<std::string> names = {"pre", "post", "verify", "success", "failure", "rollback"};
  return names;
}

std::vector<std::string>* Commands::of(const std::string& phase) {
  if (phase == "pre") return &pre;
  if (phase == "post") return &post;
  if (phase == "verify") return &verify;
  if (phase == "success") return &success;
  if (phase == "failure") return &failure;
  if (phase == "rollback") return &rollback;
  return nullptr;
}

std::string refused_dest(const std::string& dest) {
  if (dest.empty()) return "";
  if (dest[0] != '/')
    return "'" + dest + "' is a relative path; it would land in whatever folder haul runs in. Write an absolute path, "
           "like /var/www/app";
  std::string norm = std::filesystem::path(dest).lexically_normal().string();
  while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
  if (norm == "/") return "'/' is refused: syncing a release there would delete everything else on the host";
  if (std::find(kSystemFolders.begin(), kSystemFolders.end(), norm) != kSystemFolders.end())
    return "'" + norm + "' is a top-level system folder; syncing a release there would delete everything else in "
           "it. Deploy into a folder of its own, like " + norm + "/app";
  return "";
}

std::string Manifest::checksum_algorithm() const {
  switch (checksum.size()) {
    case 32: return "md5";
    case 40: return "sha1";
    case 64: return "sha256";
    case 128: return "sha512";
    default: return "";
  }
}

std::optional<unsigned> parse_octal_mode(const std::string& text) {
  std::string digits = text;
  if (digits.rfind("0o", 0) == 0) digits = digits.substr(2);
  else if (digits.size() > 1 && digits[0] == '0') digits = digits.substr(1);
  if (digits.empty() || digits.size() > 4 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; }))
    return std::nullopt;
  return static_cast<unsigned>(std::stoul(digits, nullptr, 8));
}

std::optional<SyncStrategy> parse_sync_strategy(const std::string& text) {
  if (text.empty() || text == "rsync") return SyncStrategy::rsync;
  if (text == "mv") return SyncStrategy::mv;
  if (text == "release") return SyncStrategy::release;
  return std::nullopt;
}

const char* to_string(SyncStrategy s) {
  switch (s) {
    case SyncStrategy::mv: return "mv";
    case SyncStrategy::release: return "release";
    default: return "rsync";
  }
}

Manifest parse_manifest(const std::string& raw, const std::string& origin, const EnvLookup& lookup,
                        const ManifestChecks& checks) {
  const std::string text = render_env_template(raw, origin, lookup);
  YAML::Node root = parse_yaml(text, origin);
  if (!root.IsMap())
    throw Error(origin + ": a manifest must be a YAML map with src, checksum, dest, commands...; got " +
                yaml_kind(root));
  Manifest m;
  // Every mistake is gathered and reported together: fixing a manifest one
  // mistake per deploy is no way to spend a night.
  ConfigErrors errors(origin);
  for (const auto& kv : root) {
    std::string key = kv.first.Scalar();
    if (std::find(kKnownFields.begin(), kKnownFields.end(), key) != kKnownFields.end()) continue;
    const auto near = closest_name(key, kKnownFields);
    if (near)
      errors.add(yaml_where(origin, kv.first) + ": unknown field '" + key + "' — did you mean '" + *near +
                 "'? (refused: a misspelled field would silently drop what it says)");
    else if (checks.strict)
      errors.add(yaml_where(origin, kv.first) + ": unknown field '" + key +
                 "' (strict: every field must be known; valid fields: " + join_list(kKnownFields) + ")");
    else
      m.ignored_fields.push_back(key);
  }
  const YAML::Node cmds = root["commands"];
  if (cmds.IsDefined() && cmds.IsMap())
    for (const auto& kv : cmds) {
      const std::string phase = kv.first.Scalar();
      const auto& phases = Commands::phases();
      if (std::find(phases.begin(), phases.end(), phase) != phases.end()) continue;
      const auto near = closest_name(phase, phases);
      errors.add(yaml_where(origin, kv.first) + ": commands." + phase + ": unknown phase" +
                 (near ? " — did you mean '" + *near + "'?" : "") + "; expected " + join_list(phases));
    }
  auto opt_string = [&](const char* field) {
    const YAML::Node n = root[field];
    std::string value;
    errors.collect([&] { value = (n.IsDefined() && !n.IsNull()) ? yaml_string(n, origin, field) : std::string(); });
    return value;
  };
  m.src = opt_string("src");
  m.dest = opt_string("dest");
  m.exclude_from = opt_string("exclude_from");
  m.checksum = opt_string("checksum");
  std::transform(m.checksum.begin(), m.checksum.end(), m.checksum.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

  if (checks.dest_path)
    if (const std::string why = refused_dest(m.dest); !why.empty())
      errors.add(yaml_where(origin, root["dest"]) + ": dest: " + why);
  // Stretcher hands dest to rsync, where "/srv/app/" and "/srv/app" are the
  // same folder; haul names files beside dest after its last component, so
  // it must have one.
  if (!m.dest.empty() && m.dest[0] == '/') {
    m.dest = std::filesystem::path(m.dest).lexically_normal().string();
    while (m.dest.size() > 1 && m.dest.back() == '/') m.dest.pop_back();
  }
  if (!m.src.empty()) {
    if (m.dest.empty()) errors.add(origin + ": dest: required when src is set");
    if (m.checksum.empty())
      errors.add(origin + ": checksum: required when src is set (md5, sha1, sha256 or sha512 of " + m.src +
                 " in hex)");
  }
  if (!m.checksum.empty() &&
      (m.checksum_algorithm().empty() ||
       !std::all_of(m.checksum.begin(), m.checksum.end(), [](unsigned char c) { return std::isxdigit(c); })))
    errors.add(yaml_where(origin, root["checksum"]) +
               ": checksum: expected an md5, sha1, sha256 or sha512 hex string (32, 40, 64 or 128 hex digits), got '" +
               m.checksum + "'");

  if (root["dest_mode"].IsDefined() && !root["dest_mode"].IsNull())
    errors.collect([&] { m.dest_mode = parse_mode(root["dest_mode"], origin); });

  std::string strategy = opt_string("sync_strategy");
  if (auto st = parse_sync_strategy(strategy))
    m.sync_strategy = *st;
  else
    errors.add(yaml_where(origin, root["sync_strategy"]) + ": sync_strategy: unknown strategy '" + strategy +
               "'; expected rsync, mv or release");

  m.release = opt_string("release");
  if (!m.release.empty() &&
      (m.release.find('/') != std::string::npos || m.release[0] == '.' ||
       !std::all_of(m.release.begin(), m.release.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+'; })))
    errors.add(yaml_where(origin, root["release"]) + ": release: '" + m.release +
               "' is not a release id; use letters, digits, '-', '_', '.', '+' (e.g. 20261126-101500 or v1.4.2)");
  errors.collect([&] {
    for (const auto& d : yaml_string_list(root["linked_dirs"], origin, "linked_dirs"))
      m.linked_dirs.push_back(release_path(d, yaml_where(origin, root["linked_dirs"]) + ": linked_dirs"));
  });
  errors.collect([&] {
    for (const auto& f : yaml_string_list(root["linked_files"], origin, "linked_files"))
      m.linked_files.push_back(release_path(f, yaml_where(origin, root["linked_files"]) + ": linked_files"));
  });
  if (m.sync_strategy != SyncStrategy::release && (!m.linked_dirs.empty() || !m.linked_files.empty()))
    errors.add(origin + ": linked_dirs and linked_files need sync_strategy: release");
  if (root["created_at"].IsDefined() && !root["created_at"].IsNull())
    errors.collect([&] {
      const std::string t = yaml_string(root["created_at"], origin, "created_at");
      auto when = parse_timestamp(t);
      if (!when)
        throw Error(yaml_where(origin, root["created_at"]) +
                    ": created_at: expected a UTC time like 2026-11-26T10:15:00Z, got '" + t + "'");
      m.created_at = *when;
    });
  if (root["keep_releases"].IsDefined())
    errors.collect([&] {
      std::string k = yaml_string(root["keep_releases"], origin, "keep_releases");
      if (k.empty() || k.size() > 9 || !std::all_of(k.begin(), k.end(), ::isdigit) || std::stoi(k) < 1)
        throw Error(yaml_where(origin, root["keep_releases"]) +
                    ": keep_releases: expected a whole number of at least 1, got '" + k + "'");
      m.keep_releases = std::stoi(k);
    });
  if (root["command_timeout"].IsDefined())
    errors.collect([&] {
      std::string t = yaml_string(root["command_timeout"], origin, "command_timeout");
      auto d = parse_duration(t);
      if (!d)
        throw Error(yaml_where(origin, root["command_timeout"]) +
                    ": command_timeout: expected a duration like 30s or 5m, got '" + t + "'");
      m.command_timeout = *d;
    });

  errors.collect([&] { m.excludes = yaml_string_list(root["excludes"], origin, "excludes"); });

  if (cmds.IsDefined() && !cmds.IsNull()) {
    if (!cmds.IsMap())
      errors.add(yaml_where(origin, cmds) + ": commands: expected a map with pre, post, success, failure; got " +
                 yaml_kind(cmds));
    else
      for (const auto& kv : cmds) {
        const std::string phase = kv.first.Scalar();
        errors.collect([&] {
          auto list = yaml_string_list(kv.second, origin, "commands." + phase);
          if (auto* phase_commands = m.commands.of(phase)) *phase_commands = list;
        });
      }
  }
  errors.throw_if_any();
  return m;
}

}  // namespace haul
