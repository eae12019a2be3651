// SPDX-License-Identifier: Apache-2.0
// A plugin shared object that passed every check of the loader. Instances of
// the plugin keep a shared_ptr to it, so the library stays mapped until the
// last instance is destroyed.
#pragma once

#include <haul/plugin.h>

#include <boost/dll/shared_library.hpp>
#include <memory>
#include <string>
#include <vector>

namespace haul {

struct LoadedPlugin {
  boost::dll::shared_library library;
  const haul_plugin_info* info = nullptr;
  std::string path;

  std::string name() const { return info->name; }
  haul_kind kind() const { return info->kind; }
  std::vector<std::string> schemes() const;
  std::vector<const haul_config_field*> fields() const;
  // The ABI 1.1 store callback, or nullptr: NULL in the plugin, or a 1.0
  // plugin whose struct ends before the field.
  decltype(haul_plugin_info::store) store_callback() const;
  // ABI 1.4 (haul gc): likewise.
  decltype(haul_plugin_info::list) list_callback() const;
  decltype(haul_plugin_info::remove) remove_callback() const;
};

const char* kind_name(haul_kind kind);  // "trigger", "source", "hook"

}  // namespace haul
