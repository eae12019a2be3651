// SPDX-License-Identifier: Apache-2.0
// A test that publishes releases as file:// manifests into a temporary
// folder and deploys them with the real haul binary, as an operator would.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace haul::test {

class DeployFixture : public ::testing::Test {
 protected:
  TempDir tmp;
  fs::path dest = tmp / "www/app";

  // Writes the archive of entries and a manifest for it (plus extra YAML);
  // returns the manifest's URL.
  std::string publish(const std::string& name, const std::vector<Entry>& entries, const std::string& extra = "") {
    const std::string tar = make_tar(entries);
    write_file(tmp / (name + ".tgz"), tar);
    write_file(tmp / (name + ".yml"), "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                          "\ndest: " + dest.string() + "\n" + extra);
    return file_url(tmp / (name + ".yml"));
  }

  // haul's argv with these arguments.
  std::vector<std::string> argv(const std::vector<std::string>& args) const {
    std::vector<std::string> a{haul_binary().string()};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }

  // Runs haul in tmp, with none of the handler's environment inherited.
  ProcessResult haul(const std::vector<std::string>& args, const std::string& stdin_text = "",
                     std::map<std::string, std::string> env = {}) {
    ProcessOptions o;
    o.stdin_text = stdin_text;
    o.env = std::move(env);
    o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "SERF_USER_LTIME", "HAUL_PLUGIN_PATH"};
    o.cwd = tmp.path().string();
    return run_process(argv(args), o);
  }
};

}  // namespace haul::test
