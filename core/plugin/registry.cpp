// SPDX-License-Identifier: Apache-2.0
#include "plugin/registry.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <system_error>

#include "plugin/loader.hpp"
#include "util/error.hpp"
#include "util/suggest.hpp"

namespace haul {
namespace fs = std::filesystem;

void PluginRegistry::load_dir(const fs::path& dir) {
  dirs_.push_back(dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".so") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_file(f);
}

bool PluginRegistry::load_file(const fs::path& file) {
  try {
    auto plugin = load_plugin(file);
    auto it = by_name_.find(plugin->name());
    if (it != by_name_.end())
      throw Error("plugin " + plugin->path + ": duplicate plugin name '" + plugin->name() +
                  "', already loaded from " + it->second->path);
    by_name_[plugin->name()] = std::move(plugin);
    return true;
  } catch (const Error& e) {
    spdlog::debug("{}", e.what());
    refusals_.push_back({file.string(), e.what()});
    return false;
  }
}

std::shared_ptr<LoadedPlugin> PluginRegistry::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::shared_ptr<LoadedPlugin> PluginRegistry::require(const std::string& name, haul_kind kind,
                                                      const std::string& context) const {
  auto p = find(name);
  if (p && p->kind() == kind) return p;
  std::vector<std::string> names;
  for (const auto& q : of_kind(kind)) names.push_back(q->name());
  std::string msg = context + ": ";
  if (p) {
    msg += "'" + name + "' is a " + kind_name(p->kind()) + " plugin, not a " + kind_name(kind);
  } else {
    msg += "no " + std::string(kind_name(kind)) + " plugin named '" + name + "'";
    if (const auto near = closest_name(name, names)) msg += " — did you mean '" + *near + "'?";
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  msg += " (available " + std::string(kind_name(kind)) + " plugins: " + (list.empty() ? "none" : list) + ")";
  for (const auto& r : refusals_) msg += "\n  refused: " + r.reason;
  throw Error(msg);
}

std::vector<std::shared_ptr<LoadedPlugin>> PluginRegistry::of_kind(haul_kind kind) const {
  std::vector<std::shared_ptr<LoadedPlugin>> out;
  for (const auto& [name, p] : by_name_)
    if (p->kind() == kind) out.push_back(p);
  return out;
}

std::vector<std::shared_ptr<LoadedPlugin>> PluginRegistry::all() const {
  std::vector<std::shared_ptr<LoadedPlugin>> out;
  for (const auto& [name, p] : by_name_) out.push_back(p);
  return out;
}

std::vector<fs::path> default_plugin_dirs() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path bin = exe.parent_path();
    dirs.push_back(bin / "plugins");                     // build tree: build/haul + build/plugins/
    dirs.push_back(bin.parent_path() / "lib/haul/plugins");  // installed: PREFIX/bin + PREFIX/lib/haul/plugins
  }
  if (const char* extra = std::getenv("HAUL_PLUGIN_PATH")) {
    std::string all = extra;
    size_t start = 0;
    while (start <= all.size()) {
      size_t colon = all.find(':', start);
      if (colon == std::string::npos) colon = all.size();
      if (colon > start) dirs.emplace_back(all.substr(start, colon - start));
      start = colon + 1;
    }
  }
  return dirs;
}

PluginRegistry load_registry(const std::vector<std::string>& extra_dirs) {
  PluginRegistry reg;
  for (const auto& d : default_plugin_dirs()) reg.load_dir(d);
  for (const auto& d : extra_dirs) reg.load_dir(d);
  return reg;
}

}  // namespace haul
