// SPDX-License-Identifier: Apache-2.0
// `haul plugins list` and `haul plugins describe NAME`: what was loaded, from
// where, with which ABI; what was refused and why; every config field.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/cli_common.hpp"
#include "plugin/registry.hpp"
#include "util/error.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

std::string abi(const LoadedPlugin& p) {
  return std::to_string(p.info->abi_major) + "." + std::to_string(p.info->abi_minor);
}

void list(const PluginRegistry& reg) {
  std::cout << std::left << std::setw(16) << "NAME" << std::setw(9) << "KIND" << std::setw(10) << "VERSION"
            << std::setw(6) << "ABI" << "PATH\n";
  for (const auto& p : reg.all())
    std::cout << std::setw(16) << p->name() << std::setw(9) << kind_name(p->kind()) << std::setw(10)
              << p->info->version << std::setw(6) << abi(*p) << p->path << "\n";
  if (!reg.refusals().empty()) {
    std::cout << "\nrefused:\n";
    for (const auto& r : reg.refusals()) std::cout << "  " << r.reason << "\n";
  }
  std::cout << "\nsearched: ";
  for (const auto& d : reg.searched_dirs()) std::cout << d.string() << " ";
  std::cout << "\n";
}

void describe(const PluginRegistry& reg, const std::string& name) {
  auto p = reg.find(name);
  if (!p) {
    std::string names;
    for (const auto& q : reg.all()) names += (names.empty() ? "" : ", ") + q->name();
    throw Error("no plugin named '" + name + "'; loaded: " + names);
  }
  std::cout << p->name() << " — " << p->info->description << "\n"
            << "  kind:    " << kind_name(p->kind()) << "\n"
            << "  version: " << p->info->version << " (plugin ABI " << abi(*p) << ")\n"
            << "  path:    " << p->path << "\n";
  if (p->kind() == HAUL_KIND_SOURCE) {
    std::cout << "  schemes:";
    for (const auto& s : p->schemes()) std::cout << " " << s << "://";
    std::cout << "\n  store:   " << (p->store_callback() ? "yes (haul publish can upload here)" : "no (read only)") << "\n";
  }
  auto fields = p->fields();
  if (fields.empty()) {
    std::cout << "  config:  none\n";
    return;
  }
  std::cout << "  config:\n";
  for (auto f : fields) {
    std::cout << "    " << std::left << std::setw(22) << f->name << std::setw(10) << f->type
              << (f->required ? "required" : ("default " + std::string(f->default_value ? f->default_value : "(none)")))
              << "\n      " << f->description << "\n";
  }
}

}  // namespace

int run_plugins(const Args& args) {
  po::options_description desc("haul plugins list | haul plugins describe NAME");
  desc.add_options()("action", po::value<std::string>(), "list or describe")("name", po::value<std::string>(),
                                                                               "plugin name, for describe");
  desc.add(common_options());
  try {
    auto vm = parse_args(args, desc, {"action", "name"});
    std::string action = vm.count("action") ? vm["action"].as<std::string>() : "list";
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    PluginRegistry reg = load_registry();
    if (action == "list") {
      list(reg);
    } else if (action == "describe") {
      if (!vm.count("name")) throw Error("haul plugins describe needs a plugin name, e.g. haul plugins describe http");
      describe(reg, vm["name"].as<std::string>());
    } else {
      throw Error("haul plugins: unknown action '" + action + "'; expected list or describe");
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "haul: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace haul
