// SPDX-License-Identifier: Apache-2.0
#include "cli/deploy_flags.hpp"

#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {

void add_fetch_flags(po::options_description& desc) {
  desc.add_options()
      ("timeout", po::value<std::string>(), "limit for fetching src, e.g. 10m (default: none)")
      ("retry", po::value<std::string>(), "retries for a failed fetch (default 0)")
      ("retry-wait", po::value<std::string>(), "wait between retries (default 3s)")
      ("retry-missing", "retry a missing object or refused access (HTTP 404, 403, 401) too; by default those fail "
       "at once")
      ("max-bandwidth", po::value<std::string>(), "cap download speed, bytes/s: 800k, 10M, 1.5MiB");
}

void add_deploy_flags(po::options_description& desc) {
  add_fetch_flags(desc);
  desc.add_options()
      ("random-delay", po::value<std::string>(), "sleep a random time up to this before deploying, e.g. 30s")
      ("rsync-verbose", po::value<std::string>(), "sync log detail: \"\" summary only, -v files (default), -vv more")
      ("trusted-key", po::value<std::vector<std::string>>()->composing(),
       "accept only manifests signed by this public key (repeatable; adds to deploy.trusted_keys)")
      ("allow-symlink-target", po::value<std::vector<std::string>>()->composing(),
       "let the release's symlinks point into this folder outside it (repeatable; adds to "
       "deploy.allow_symlink_targets)")
      ("allow-downgrade", "deploy a signed manifest older than the release dest runs (an explicit rollback)")
      ("strict", "refuse a manifest with any unknown field (default: only near-misses like 'exclude' are refused)");
}

void apply_deploy_flags(const po::variables_map& vm, DeployOptions& o) {
  auto duration = [&](const char* flag, std::chrono::milliseconds& out) {
    if (!vm.count(flag)) return;
    const auto text = vm[flag].as<std::string>();
    auto d = parse_duration(text);
    if (!d) throw Error(std::string("--") + flag + ": expected a duration like 500ms, 10s, 1m30s; got '" + text + "'");
    out = *d;
  };
  duration("timeout", o.timeout);
  duration("random-delay", o.random_delay);
  duration("retry-wait", o.retry_wait);
  if (vm.count("retry")) {
    const auto text = vm["retry"].as<std::string>();
    try {
      size_t used = 0;
      o.retry = std::stoi(text, &used);
      if (used != text.size() || o.retry < 0) throw std::invalid_argument(text);
    } catch (const std::logic_error&) {
      throw Error("--retry: expected a whole number of retries (0 or more); got '" + text + "'");
    }
  }
  if (vm.count("max-bandwidth")) {
    const auto text = vm["max-bandwidth"].as<std::string>();
    auto b = parse_bytes(text);
    if (!b) throw Error("--max-bandwidth: expected bytes per second like 800k, 10M, 1.5MiB; got '" + text + "'");
    o.max_bandwidth_bytes_per_s = *b;
  }
  if (vm.count("retry-missing")) o.retry_missing = true;
  if (vm.count("rsync-verbose")) o.rsync_verbose = vm["rsync-verbose"].as<std::string>();
  if (vm.count("trusted-key"))
    for (const auto& k : vm["trusted-key"].as<std::vector<std::string>>()) o.trusted_keys.push_back(k);
  if (vm.count("allow-symlink-target"))
    for (const auto& dir : vm["allow-symlink-target"].as<std::vector<std::string>>())
      o.allow_symlink_targets.push_back(symlink_target_prefix(dir, "--allow-symlink-target"));
  if (vm.count("allow-downgrade")) o.allow_downgrade = true;
  if (vm.count("strict")) o.strict = true;
}

}  // namespace haul
