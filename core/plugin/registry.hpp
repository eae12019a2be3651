// SPDX-License-Identifier: Apache-2.0
// Every plugin haul found, by name. Plugins come from folders searched in a
// fixed order: the built-in folder next to the haul binary (build tree and
// installed layout), then each folder in HAUL_PLUGIN_PATH, then the config's
// plugin_path. A file that fails the loader's checks is kept as a refusal with
// its reason, so `haul plugins list` and the error for a missing plugin can
// say why it is not there.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plugin/loaded_plugin.hpp"

namespace haul {

struct PluginRefusal {
  std::string path;
  std::string reason;
};

class PluginRegistry {
 public:
  // Loads every *.so in dir (sorted by name). A missing dir is skipped.
  void load_dir(const std::filesystem::path& dir);
  // Loads one file; on refusal records it and returns false.
  bool load_file(const std::filesystem::path& file);

  std::shared_ptr<LoadedPlugin> find(const std::string& name) const;
  // Like find, but a missing plugin or one of another kind is an error that
  // suggests the nearest name of that kind, lists what is available (and
  // any refusals) — `context` says who asked and where.
  std::shared_ptr<LoadedPlugin> require(const std::string& name, haul_kind kind,
                                        const std::string& context) const;
  std::vector<std::shared_ptr<LoadedPlugin>> of_kind(haul_kind kind) const;
  std::vector<std::shared_ptr<LoadedPlugin>> all() const;
  const std::vector<PluginRefusal>& refusals() const { return refusals_; }
  const std::vector<std::filesystem::path>& searched_dirs() const { return dirs_; }

 private:
  std::map<std::string, std::shared_ptr<LoadedPlugin>> by_name_;
  std::vector<PluginRefusal> refusals_;
  std::vector<std::filesystem::path> dirs_;
};

// The built-in plugin folders for this executable, then HAUL_PLUGIN_PATH.
std::vector<std::filesystem::path> default_plugin_dirs();

// A registry loaded from default_plugin_dirs() plus extra folders.
PluginRegistry load_registry(const std::vector<std::string>& extra_dirs = {});

}  // namespace haul
