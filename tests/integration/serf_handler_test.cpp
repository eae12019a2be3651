// A real Serf agent (Debian's serf) on 127.0.0.1 running haul as its
// user-event handler, as operators configure it: -event-handler "user:deploy=haul".
#include <gtest/gtest.h>

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
