// SPDX-License-Identifier: Apache-2.0
// `haul diff DEST`: drift detection. Compares what dest holds now with the
// content record its last deploy wrote (drift/), and lists what was
// modified, added or deleted since. Exit 0: dest is as deployed; 1: it
// drifted; 2: it cannot be checked (no record, a bad command line).
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/cli_common.hpp"
#include "drift/drift_check.hpp"
#include "drift/tree_record.hpp"
#include "release/deploy_journal.hpp"
#include "release/release_store.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {
namespace {

namespace fs = std::filesystem;

// What to compare: the folder the record describes, and the record.
struct DiffTarget {
  fs::path root;
  TreeRecord record;
  std::optional<JournalEntry> journal;
};

DiffTarget target_of(const fs::path& dest) {
  std::error_code ec;
  if (!fs::is_directory(dest, ec))
    throw Error(dest.string() + " is not a folder" + (fs::exists(dest, ec) ? "" : " (it does not exist)"));
  DiffTarget t;
  ReleaseStore store(dest);
  if (fs::is_symlink(store.current_link(), ec)) {  // sync_strategy: release
    const auto id = store.current_id();
    if (!id) throw Error(store.current_link().string() + " points at no release");
    t.root = store.release_dir(*id);
    if (!fs::exists(store.tree_path(*id)))
      throw Error("release " + *id + " of " + dest.string() + " has no content record (" +
                  store.tree_path(*id).string() + "): an older haul deployed it; the next deploy writes one");
    t.record = TreeRecord::load(store.tree_path(*id));
    t.journal = DeployJournal(dest).read();
    return t;
  }
  const fs::path file = TreeRecord::beside(dest);
  if (!fs::exists(file))
    throw Error(dest.string() + " has no content record (" + file.string() +
                "): haul has not deployed to it, or an older haul did; the next deploy writes one");
  t.root = dest;
  t.record = TreeRecord::load(file);
  t.journal = DeployJournal::beside(dest).read();
  return t;
}

nlohmann::json items_json(const std::vector<DriftItem>& items) {
  auto out = nlohmann::json::array();
  for (const auto& i : items) out.push_back({{"path", i.path}, {"what", i.what}});
  return out;
}

void print_items(const char* label, const std::vector<DriftItem>& items) {
  for (const auto& i : items) std::cout << label << i.path << (i.what.empty() ? "" : "  (" + i.what + ")") << "\n";
}

}  // namespace

int run_diff(const Args& args) {
  po::options_description desc("haul diff DEST [--quick] [--json]");
  desc.add_options()
      ("dest", po::value<std::string>(), "the manifest's dest (positional)")
      ("quick", "trust a file whose size and mtime are as deployed instead of hashing its content")
      ("json", "print the report as JSON");
  desc.add(common_options());
  return run_command(args, desc, {"dest"}, [&](const po::variables_map& vm) {
    if (!vm.count("dest")) throw UsageError("haul diff needs the dest to check, e.g. haul diff /var/www/app");
    const fs::path dest = fs::absolute(vm["dest"].as<std::string>()).lexically_normal();
    const DiffTarget t = target_of(dest);
    DriftOptions options;
    options.quick = vm.count("quick") > 0;
    const DriftReport r = check_drift(t.root, t.record, options);
    const std::string deployed = t.record.release.empty() ? "the deploy of " + t.record.manifest_url
                                                          : "release " + t.record.release;
    if (vm.count("json")) {
      nlohmann::json j = {{"dest", dest.string()},
                          {"release", t.record.release},
                          {"manifest_url", t.record.manifest_url},
                          {"drifted", r.drifted()},
                          {"compared", r.compared},
                          {"modified", items_json(r.modified)},
                          {"added", items_json(r.added)},
                          {"deleted", items_json(r.deleted)},
                          {"deploy_in_progress", t.journal.has_value()}};
      std::cout << j.dump(2) << "\n";
    } else {
      if (t.journal)
        std::cout << "note: a deploy of " << dest.string() << " (pid " << t.journal->pid
                  << ") is running or was interrupted during " << t.journal->phase
                  << ": what it changed shows as drift\n";
      print_items("modified  ", r.modified);
      print_items("added     ", r.added);
      print_items("deleted   ", r.deleted);
      if (r.drifted())
        std::cout << dest.string() << " drifted from " << deployed << ": " << r.modified.size() << " modified, "
                  << r.added.size() << " added, " << r.deleted.size() << " deleted\n";
      else
        std::cout << dest.string() << " is as " << deployed << " left it: "
                  << count_of(r.compared, "entry", "entries") << " compared"
                  << (options.quick ? " (size and mtime)" : ", " + format_bytes(r.hashed_bytes) + " hashed") << "\n";
    }
    return r.drifted() ? 1 : 0;
  }, "haul diff: ", /*failed_code=*/2);  // 1 means "drifted"
}

}  // namespace haul
