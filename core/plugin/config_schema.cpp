// SPDX-License-Identifier: Apache-2.0
#include "plugin/config_schema.hpp"

#include <algorithm>

#include "config/yaml_util.hpp"
#include "util/error.hpp"
#include "util/suggest.hpp"
#include "util/units.hpp"

namespace haul {
namespace {

// Converts a value as a user writes it into the form plugin.h promises.
std::string normalise(const haul_config_field& f, const YAML::Node& node, const std::string& text,
                      const std::string& where) {
  const std::string type = f.type;
  auto bad = [&](const std::string& expected) {
    return Error(where + ": expected " + expected + ", got '" + text + "'");
  };
  if (type == "list") {
    if (node.IsDefined() && node.IsSequence()) {
      std::string joined;
      for (const auto& item : node) {
        if (!item.IsScalar()) throw Error(where + ": expected a list of strings");
        joined += (joined.empty() ? "" : "\n") + item.Scalar();
      }
      return joined;
    }
    return text;
  }
  if (node.IsDefined() && !node.IsNull() && !node.IsScalar())
    throw Error(where + ": expected a " + type + " value, got " + yaml_kind(node));
  if (type == "string") return text;
  if (type == "bool") {
    if (text == "true" || text == "yes" || text == "on") return "true";
    if (text == "false" || text == "no" || text == "off") return "false";
    throw bad("true or false");
  }
  if (type == "int") {
    try {
      size_t used = 0;
      long long v = std::stoll(text, &used);
      if (used != text.size()) throw bad("an integer");
      return std::to_string(v);
    } catch (const std::logic_error&) {
      throw bad("an integer");
    }
  }
  if (type == "duration") {
    auto d = parse_duration(text);
    if (!d) throw bad("a duration like 500ms, 10s, 1m30s");
    return std::to_string(d->count());
  }
  if (type == "bytes") {
    auto b = parse_bytes(text);
    if (!b) throw bad("a size like 800k, 10M, 1.5MiB");
    return std::to_string(*b);
  }
  throw bad("a value of type " + type);
}

}  // namespace

PluginSettings validate_plugin_config(const LoadedPlugin& plugin, const YAML::Node& node,
                                      const std::string& origin, const std::string& field_path,
                                      const std::vector<std::string>& reserved) {
  ConfigErrors errors(origin);
  PluginSettings out = validate_plugin_config(plugin, node, origin, field_path, reserved, errors);
  errors.throw_if_any();
  return out;
}

PluginSettings validate_plugin_config(const LoadedPlugin& plugin, const YAML::Node& node,
                                      const std::string& origin, const std::string& field_path,
                                      const std::vector<std::string>& reserved, ConfigErrors& errors,
                                      const YAML::Node& place) {
  const auto fields = plugin.fields();
  PluginSettings out;
  if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
    errors.add(yaml_where(origin, node) + ": " + field_path + ": expected a map of settings for " + plugin.name() +
               ", got " + yaml_kind(node));
    return out;
  }
  auto field_named = [&](const std::string& key) -> const haul_config_field* {
    for (auto f : fields)
      if (key == f->name) return f;
    return nullptr;
  };
  std::vector<std::string> names;
  for (auto f : fields) names.emplace_back(f->name);
  std::vector<std::string> wrong;  // written, but refused: not "missing" as well
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (std::find(reserved.begin(), reserved.end(), key) != reserved.end()) continue;
      const haul_config_field* f = field_named(key);
      if (!f) {
        std::string valid;
        for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
        const auto near = closest_name(key, names);
        errors.add(yaml_where(origin, kv.first) + ": " + field_path + ": unknown key '" + key + "' for " +
                   kind_name(plugin.kind()) + " plugin " + plugin.name() +
                   (near ? " — did you mean '" + *near + "'?" : "") +
                   " (valid keys: " + (valid.empty() ? "none, it takes no settings" : valid) + ")");
        continue;
      }
      if (kv.second.IsNull()) continue;  // "key:" with no value means "use the default"
      const std::string where = yaml_where(origin, kv.second) + ": " + field_path + "." + key;
      const std::string text = kv.second.IsScalar() ? kv.second.Scalar() : "";
      if (!errors.collect([&] { out.emplace_back(key, normalise(*f, kv.second, text, where)); })) wrong.push_back(key);
    }
  }
  for (auto f : fields) {
    const bool set = std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == f->name; });
    if (set || std::find(wrong.begin(), wrong.end(), f->name) != wrong.end()) continue;
    if (f->default_value) {
      const std::string where = origin + ": " + plugin.name() + " default for " + f->name;
      errors.collect([&] { out.emplace_back(f->name, normalise(*f, YAML::Node(), f->default_value, where)); });
    } else if (f->required) {
      const bool placed = node.IsDefined() && !node.Mark().is_null();  // not a null or a merged map
      errors.add(yaml_where(origin, placed ? node : place) + ": " + field_path + ": " + plugin.name() + " needs '" +
                 f->name + "' (" + f->description + ")");
    }
  }
  return out;
}

}  // namespace haul
