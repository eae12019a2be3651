#include "config/manifest.hpp"

#include <algorithm>
#include <cctype>

#include "config/yaml_util.hpp"
#include "util/error.hpp"

namespace haul {
namespace {

const char* const kKnownFields[] = {"src",      "checksum",     "dest",         "dest_mode",
                                    "commands", "excludes",     "exclude_from", "sync_strategy"};

unsigned parse_mode(const YAML::Node& node, const std::string& origin) {
  std::string text = yaml_string(node, origin, "dest_mode");
  std::string where = yaml_where(origin, node) + ": dest_mode: ";
  std::string digits = text;
  if (digits.rfind("0o", 0) == 0) digits = digits.substr(2);
  else if (digits.size() > 1 && digits[0] == '0') digits = digits.substr(1);
  else if (digits != "0")
    throw Error(where + "'" + text + "' is ambiguous; write the mode in octal with a leading 0, e.g. 0755");
  if (digits.empty() || digits.size() > 4 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; }))
    throw Error(where + "'" + text + "' is not an octal file mode like 0755");
  return static_cast<unsigned>(std::stoul(digits, nullptr, 8));
}

}  // namespace

std::string Manifest::checksum_algorithm() const {
  switch (checksum.size()) {
    case 32: return "md5";
    case 40: return "sha1";
    case 64: return "sha256";
    case 128: return "sha512";
    default: return "";
  }
}

const char* to_string(SyncStrategy s) {
  return s == SyncStrategy::mv ? "mv" : "rsync";
}

Manifest parse_manifest(const std::string& raw, const std::string& origin,
                        const EnvLookup& lookup) {
  const std::string text = render_env_template(raw, origin, lookup);
  YAML::Node root = parse_yaml(text, origin);
  if (!root.IsMap())
    throw Error(origin + ": a manifest must be a YAML map with src, checksum, dest, commands...; got " +
                yaml_kind(root));
  Manifest m;
  for (const auto& kv : root) {
    std::string key = kv.first.Scalar();
    if (std::find(std::begin(kKnownFields), std::end(kKnownFields), key) == std::end(kKnownFields))
      m.ignored_fields.push_back(key);
  }
  auto opt_string = [&](const char* field) {
    const YAML::Node n = root[field];
    return (n.IsDefined() && !n.IsNull()) ? yaml_string(n, origin, field) : std::string();
  };
  m.src = opt_string("src");
  m.dest = opt_string("dest");
  m.exclude_from = opt_string("exclude_from");
  m.checksum = opt_string("checksum");
  std::transform(m.checksum.begin(), m.checksum.end(), m.checksum.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

  if (!m.src.empty()) {
    if (m.dest.empty()) throw Error(origin + ": dest: required when src is set");
    if (m.checksum.empty())
      throw Error(origin + ": checksum: required when src is set (md5, sha1, sha256 or sha512 of " +
                  m.src + " in hex)");
  }
  if (!m.checksum.empty() &&
      (m.checksum_algorithm().empty() ||
       !std::all_of(m.checksum.begin(), m.checksum.end(), [](unsigned char c) { return std::isxdigit(c); })))
    throw Error(yaml_where(origin, root["checksum"]) +
                ": checksum: expected an md5, sha1, sha256 or sha512 hex string (32, 40, 64 or 128 hex digits), got '" +
                m.checksum + "'");

  if (root["dest_mode"].IsDefined() && !root["dest_mode"].IsNull())
    m.dest_mode = parse_mode(root["dest_mode"], origin);

  std::string strategy = opt_string("sync_strategy");
  if (strategy.empty() || strategy == "rsync") m.sync_strategy = SyncStrategy::rsync;
  else if (strategy == "mv") m.sync_strategy = SyncStrategy::mv;
  else
    throw Error(yaml_where(origin, root["sync_strategy"]) + ": sync_strategy: unknown strategy '" +
                strategy + "'; expected rsync or mv");

  m.excludes = yaml_string_list(root["excludes"], origin, "excludes");

  const YAML::Node cmds = root["commands"];
  if (cmds.IsDefined() && !cmds.IsNull()) {
    if (!cmds.IsMap())
      throw Error(yaml_where(origin, cmds) + ": commands: expected a map with pre, post, success, failure; got " +
                  yaml_kind(cmds));
    for (const auto& kv : cmds) {
      std::string phase = kv.first.Scalar();
      auto list = yaml_string_list(kv.second, origin, "commands." + phase);
      if (phase == "pre") m.commands.pre = list;
      else if (phase == "post") m.commands.post = list;
      else if (phase == "success") m.commands.success = list;
      else if (phase == "failure") m.commands.failure = list;
      else
        throw Error(yaml_where(origin, kv.first) + ": commands." + phase +
                    ": unknown phase; expected pre, post, success or failure");
    }
  }
  return m;
}

}  // namespace haul
