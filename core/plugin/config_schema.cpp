#include "plugin/config_schema.hpp"

#include <algorithm>

#include "config/yaml_util.hpp"
#include "util/error.hpp"
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
  const auto fields = plugin.fields();
  if (node.IsDefined() && !node.IsNull() && !node.IsMap())
    throw Error(yaml_where(origin, node) + ": " + field_path + ": expected a map of settings for " +
                plugin.name() + ", got " + yaml_kind(node));
  auto field_named = [&](const std::string& key) -> const haul_config_field* {
    for (auto f : fields)
      if (key == f->name) return f;
    return nullptr;
  };
  PluginSettings out;
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (std::find(reserved.begin(), reserved.end(), key) != reserved.end()) continue;
      const haul_config_field* f = field_named(key);
      if (!f) {
        std::string valid;
        for (auto g : fields) valid += (valid.empty() ? "" : ", ") + std::string(g->name);
        throw Error(yaml_where(origin, kv.first) + ": " + field_path + ": unknown key '" + key +
                    "' for " + kind_name(plugin.kind()) + " plugin " + plugin.name() +
                    "; valid keys: " + (valid.empty() ? "none (it takes no settings)" : valid));
      }
      std::string where = yaml_where(origin, kv.second) + ": " + field_path + "." + key;
      std::string text = kv.second.IsScalar() ? kv.second.Scalar() : "";
      if (kv.second.IsNull()) continue;  // "key:" with no value means "use the default"
      out.emplace_back(key, normalise(*f, kv.second, text, where));
    }
  }
  for (auto f : fields) {
    bool set = std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == f->name; });
    if (set) continue;
    if (f->default_value) {
      std::string where = origin + ": " + plugin.name() + " default for " + f->name;
      out.emplace_back(f->name, normalise(*f, YAML::Node(), f->default_value, where));
    } else if (f->required) {
      throw Error(yaml_where(origin, node) + ": " + field_path + ": " + plugin.name() +
                  " needs '" + f->name + "' (" + f->description + ")");
    }
  }
  return out;
}

}  // namespace haul
