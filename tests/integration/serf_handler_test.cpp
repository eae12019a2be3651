// SPDX-License-Identifier: Apache-2.0
// A real Serf agent (Debian's serf) on 127.0.0.1 running haul as its
// user-event handler, as operators configure it: -event-handler "user:deploy=haul".
#include <gtest/gtest.h>

#include <algorithm>

#include "test_support.hpp"

using namespace haul::test;

TEST(SerfHandler, UserEventDeploysTheRelease) {
  TempDir tmp;
  const fs::path dest = tmp / "dest";
  const std::string tar = make_tar({file_entry("index.html", "from serf")});
  write_file(tmp / "app.tgz", tar);
  write_file(tmp / "manifest.yml", "src: " + file_url(tmp / "app.tgz") + "\nchecksum: " + sha256_hex(tar) +
                                       "\ndest: " + dest.string() + "\ncommands:\n  success: [\"cat > " +
                                       (tmp / "success.log").string() + "\"]\n");
  const int bind_port = free_port(), rpc_port = free_port();
  const std::string rpc = "127.0.0.1:" + std::to_string(rpc_port);
  BackgroundProcess agent({"/usr/bin/serf", "agent", "-node=haul-test", "-bind=127.0.0.1:" + std::to_string(bind_port),
                           "-rpc-addr=" + rpc, "-event-handler=user:deploy=" + haul_binary().string()},
                          tmp / "serf.log");
  ASSERT_TRUE(wait_until([&] { return port_open(rpc_port); })) << read_file(tmp / "serf.log");
  auto fired = run_process({"/usr/bin/serf", "event", "-rpc-addr=" + rpc, "deploy", file_url(tmp / "manifest.yml")});
  ASSERT_EQ(fired.exit_code, 0) << fired.err << fired.out;
  // success commands run last and get the deploy log on stdin: once it is
  // complete, the whole deploy has finished.
  ASSERT_TRUE(wait_until([&] {
    return fs::exists(tmp / "success.log") &&
           read_file(tmp / "success.log").find("Deploy manifest succeeded.") != std::string::npos;
  }, std::chrono::seconds(30))) << read_file(tmp / "serf.log");
  EXPECT_EQ(read_file(dest / "index.html"), "from serf");
}

TEST(SerfHandler, ThreeNodesDeployFromOneEvent) {
  TempDir tmp;
  const std::string tar = make_tar({file_entry("index.html", "fleet release")});
  write_file(tmp / "app.tgz", tar);
  // One manifest for the fleet; each node's dest comes from its environment.
  write_file(tmp / "manifest.yml", "src: " + file_url(tmp / "app.tgz") + "\nchecksum: " + sha256_hex(tar) +
                                       "\ndest: {{ must_env \"NODE_DEST\" }}\ncommands:\n  success: ['cat > $NODE_DEST.log']\n");
  std::vector<std::unique_ptr<BackgroundProcess>> agents;
  std::vector<int> rpc_ports;
  int first_bind = 0;
  for (int i = 0; i < 3; ++i) {
    const int bind = free_port(), rpc = free_port();
    if (i == 0) first_bind = bind;
    std::vector<std::string> argv = {"/usr/bin/serf", "agent", "-node=node" + std::to_string(i),
                                     "-bind=127.0.0.1:" + std::to_string(bind),
                                     "-rpc-addr=127.0.0.1:" + std::to_string(rpc),
                                     "-event-handler=user:deploy=" + haul_binary().string()};
    if (i > 0) argv.push_back("-join=127.0.0.1:" + std::to_string(first_bind));
    agents.push_back(std::make_unique<BackgroundProcess>(
        argv, tmp / ("serf" + std::to_string(i) + ".log"),
        std::map<std::string, std::string>{{"NODE_DEST", (tmp / ("dest" + std::to_string(i))).string()}}));
    ASSERT_TRUE(wait_until([&] { return port_open(rpc); })) << read_file(tmp / ("serf" + std::to_string(i) + ".log"));
    rpc_ports.push_back(rpc);
  }
  const std::string rpc0 = "-rpc-addr=127.0.0.1:" + std::to_string(rpc_ports[0]);
  ASSERT_TRUE(wait_until([&] {
    auto m = run_process({"/usr/bin/serf", "members", rpc0, "-status=alive"});
    return std::count(m.out.begin(), m.out.end(), '\n') == 3;
  })) << "the three agents formed a cluster";
  auto fired = run_process({"/usr/bin/serf", "event", rpc0, "deploy", file_url(tmp / "manifest.yml")});
  ASSERT_EQ(fired.exit_code, 0) << fired.err;
  for (int i = 0; i < 3; ++i) {
    const fs::path dest = tmp / ("dest" + std::to_string(i));
    ASSERT_TRUE(wait_until([&] { return file_contains(fs::path(dest.string() + ".log"), "Deploy manifest succeeded."); },
                           std::chrono::seconds(30)))
        << read_file(tmp / ("serf" + std::to_string(i) + ".log"));
    EXPECT_EQ(read_file(dest / "index.html"), "fleet release");
  }
}
