// SPDX-License-Identifier: Apache-2.0
#include "plugin/loader.hpp"

#include <boost/dll/shared_library.hpp>
#include <boost/system/system_error.hpp>
#include <cctype>
#include <cstddef>
#include <cstring>

#include "util/error.hpp"

namespace haul {

std::vector<std::string> LoadedPlugin::schemes() const {
  std::vector<std::string> out;
  if (info->kind == HAUL_KIND_SOURCE && info->schemes)
    for (auto s = info->schemes; *s; ++s) out.emplace_back(*s);
  return out;
}

std::vector<const haul_config_field*> LoadedPlugin::fields() const {
  std::vector<const haul_config_field*> out;
  if (info->config_fields)
    for (auto f = info->config_fields; f->name; ++f) out.push_back(f);
  return out;
}

// A source's optional field of a later ABI minor: nullptr when the plugin's
// struct ends before it (built against an older minor).
#define HAUL_SOURCE_FIELD(field)                                                                      \
  (info->kind == HAUL_KIND_SOURCE &&                                                                  \
           info->struct_size >= offsetof(haul_plugin_info, field) + sizeof(haul_plugin_info::field) \
       ? info->field                                                                                  \
       : nullptr)

decltype(haul_plugin_info::store) LoadedPlugin::store_callback() const { return HAUL_SOURCE_FIELD(store); }
decltype(haul_plugin_info::list) LoadedPlugin::list_callback() const { return HAUL_SOURCE_FIELD(list); }
decltype(haul_plugin_info::remove) LoadedPlugin::remove_callback() const { return HAUL_SOURCE_FIELD(remove); }
#undef HAUL_SOURCE_FIELD

const char* kind_name(haul_kind kind) {
  switch (kind) {
    case HAUL_KIND_TRIGGER: return "trigger";
    case HAUL_KIND_SOURCE: return "source";
    case HAUL_KIND_HOOK: return "hook";
    case HAUL_KIND_GATE: return "gate";
  }
  return "unknown";
}

namespace {

bool valid_name(const char* name) {
  if (!name || !*name) return false;
  for (const char* p = name; *p; ++p)
    if (!(std::islower(static_cast<unsigned char>(*p)) || std::isdigit(static_cast<unsigned char>(*p)) || *p == '-'))
      return false;
  return true;
}

}  // namespace

void validate_plugin_info(const haul_plugin_info* info, const std::string& path) {
  auto refuse = [&](const std::string& why) { return Error("plugin " + path + ": " + why); };
  if (!info) throw refuse("haul_plugin_entry() returned NULL");
  if (info->abi_major != HAUL_ABI_MAJOR)
    throw refuse("built for plugin ABI " + std::to_string(info->abi_major) + "." +
                 std::to_string(info->abi_minor) + ", this haul speaks ABI " +
                 std::to_string(HAUL_ABI_MAJOR) + ".x; rebuild the plugin against a matching haul SDK");
  if (info->abi_minor > HAUL_ABI_MINOR)
    throw refuse("built against a newer SDK (ABI " + std::to_string(info->abi_major) + "." +
                 std::to_string(info->abi_minor) + ") than this haul supports (ABI " +
                 std::to_string(HAUL_ABI_MAJOR) + "." + std::to_string(HAUL_ABI_MINOR) +
                 "); upgrade haul or rebuild the plugin against SDK " +
                 std::to_string(HAUL_ABI_MAJOR) + "." + std::to_string(HAUL_ABI_MINOR));
  if (info->struct_size > sizeof(haul_plugin_info))
    throw refuse("its haul_plugin_info is " + std::to_string(info->struct_size) +
                 " bytes, larger than this haul's " + std::to_string(sizeof(haul_plugin_info)) +
                 " for the same ABI minor; the plugin was built with a modified plugin.h");
  // ABI 1.0's struct ends with on_phase; every 1.x plugin has at least that.
  constexpr size_t kSizeAbi10 = offsetof(haul_plugin_info, on_phase) + sizeof(info->on_phase);
  if (info->struct_size < kSizeAbi10)
    throw refuse("its haul_plugin_info is " + std::to_string(info->struct_size) +
                 " bytes, smaller than the " + std::to_string(kSizeAbi10) + " bytes of ABI " +
                 std::to_string(HAUL_ABI_MAJOR) + ".0; the plugin was built with a modified plugin.h");
  if (info->kind != HAUL_KIND_TRIGGER && info->kind != HAUL_KIND_SOURCE && info->kind != HAUL_KIND_HOOK &&
      info->kind != HAUL_KIND_GATE)
    throw refuse("unknown kind " + std::to_string(static_cast<int>(info->kind)) +
                 "; expected trigger (1), source (2), hook (3) or gate (4)");
  // Gates came with ABI 1.3: a gate's struct must reach its last callback.
  constexpr size_t kGateEnd = offsetof(haul_plugin_info, gate_control) + sizeof(info->gate_control);
  if (info->kind == HAUL_KIND_GATE && info->struct_size < kGateEnd)
    throw refuse("gate plugin '" + std::string(info->name ? info->name : "(null)") +
                 "' has a haul_plugin_info of " + std::to_string(info->struct_size) + " bytes; gates need ABI 1.3 (" +
                 std::to_string(kGateEnd) + " bytes)");
  if (!valid_name(info->name))
    throw refuse("name '" + std::string(info->name ? info->name : "(null)") +
                 "' is not a plugin name; expected lower-case letters, digits and '-'");
  auto missing = [&](const char* what) {
    return refuse(std::string(kind_name(info->kind)) + " plugin '" + info->name +
                  "' lacks the required callback " + what);
  };
  if (!info->version || !*info->version) throw refuse("plugin '" + std::string(info->name) + "' has no version");
  if (!info->create) throw missing("create");
  if (!info->destroy) throw missing("destroy");
  if (!info->last_error) throw missing("last_error");
  switch (info->kind) {
    case HAUL_KIND_TRIGGER:
      if (!info->next_event) throw missing("next_event");
      if (!info->cancel) throw missing("cancel");
      break;
    case HAUL_KIND_SOURCE:
      if (!info->fetch) throw missing("fetch");
      if (!info->schemes || !info->schemes[0]) throw missing("schemes (at least one URL scheme)");
      break;
    case HAUL_KIND_HOOK:
      if (!info->on_phase) throw missing("on_phase");
      break;
    case HAUL_KIND_GATE:
      if (!info->gate_enter) throw missing("gate_enter");
      if (!info->gate_leave) throw missing("gate_leave");
      if (!info->gate_watch) throw missing("gate_watch");
      if (!info->gate_control) throw missing("gate_control");
      break;
  }
  if (info->config_fields) {
    static const char* const types[] = {"string", "bool", "int", "duration", "bytes", "list"};
    for (auto f = info->config_fields; f->name; ++f) {
      bool known = false;
      for (auto t : types) known = known || (f->type && std::strcmp(f->type, t) == 0);
      if (!known)
        throw refuse("config field '" + std::string(f->name) + "' has unknown type '" +
                     (f->type ? f->type : "(null)") +
                     "'; expected string, bool, int, duration, bytes or list");
    }
  }
}

std::shared_ptr<LoadedPlugin> load_plugin(const std::filesystem::path& path) {
  auto plugin = std::make_shared<LoadedPlugin>();
  plugin->path = path.string();
  try {
    // RTLD_LOCAL: plugins cannot see each other's symbols; RTLD_NOW: a
    // missing dependency is found now, not in the middle of a deploy.
    plugin->library.load(boost::dll::fs::path(path.string()),
                         boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  } catch (const std::exception& e) {  // boost::system or std::system_error, by Boost.DLL's mode
    throw Error("plugin " + plugin->path + ": not a loadable shared object: " + e.what());
  }
  if (!plugin->library.has(HAUL_PLUGIN_ENTRY_SYMBOL))
    throw Error("plugin " + plugin->path + ": exports no " HAUL_PLUGIN_ENTRY_SYMBOL
                "() — is it a haul plugin? (build it with HAUL_*_PLUGIN from haul/sdk.hpp)");
  auto entry = plugin->library.get<const haul_plugin_info*()>(HAUL_PLUGIN_ENTRY_SYMBOL);
  plugin->info = entry();
  validate_plugin_info(plugin->info, plugin->path);
  return plugin;
}

}  // namespace haul
