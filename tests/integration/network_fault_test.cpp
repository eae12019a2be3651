// SPDX-License-Identifier: Apache-2.0
// Network faults injected by tests/servers/fault_server.py: a source that
// resets at any offset, stalls, sends fewer or more bytes than announced,
// answers 5xx or 429, or redirects in a loop must end in a verified deploy
// (after retries that resume where they can) or a clean failure — never a
// partial release.
// (The stall rule itself is tested on a driven clock: stall_check_test.cpp.)
#include <gtest/gtest.h>

#include <iostream>

#include "test_support.hpp"

using namespace haul::test;

namespace {

// tests/servers/fault_server.py serving root on 127.0.0.1.
struct FaultServer {
  int port = free_port();
  BackgroundProcess process;
  FaultServer(const fs::path& root, const fs::path& log)
      : process({"/usr/bin/python3", HAUL_TEST_SOURCE_DIR "/servers/fault_server.py", "--port", std::to_string(port),
                 "--root", root.string()},
                log) {}
  bool ready() {
    return wait_until([&] { return port_open(port); });
  }
};

}  // namespace

TEST(NetworkFaults, EveryRunEndsVerifiedOrCleanlyFailed) {
  TempDir root, work;
  // An incompressible artifact, so offsets land inside the data.
  std::string payload(300'000, '\0');
  uint64_t x = 42;
  for (auto& c : payload) c = static_cast<char>((x = x * 6364136223846793005ull + 1) >> 56);
  const std::string tar = make_tar({file_entry("index.html", "release"), file_entry("blob.bin", payload)});
  write_file(root / "app.tgz", tar);
  FaultServer server(root.path(), work / "server.log");
  ASSERT_TRUE(server.ready()) << read_file(work / "server.log");
  const int port = server.port;
  write_file(work / "haul.yaml", "pipelines:\n  p:\n    trigger: consul-watch\n"
                                 "    sources: { http: { low_speed_time: 1s, connect_timeout: 2s } }\n"
                                 "    deploy: { retry: 3, retry_wait: 20ms, timeout: 60s }\n");
  struct Fault {
    std::string spec;
    int times;
    bool should_deploy;
  };
  std::vector<Fault> faults;
  for (int offset : {0, 1, 100, 512, 4096, 65536, 100000, 200000, 299000})
    faults.push_back({"reset=" + std::to_string(offset), 2, true});
  for (int offset : {0, 7000, 150000}) faults.push_back({"stall=" + std::to_string(offset), 1, true});
  faults.push_back({"short", 2, true});
  faults.push_back({"long", 1, true});
  faults.push_back({"overlong", 1, true});  // every byte arrived; the resume's 416 says so
  faults.push_back({"status=503", 3, true});
  faults.push_back({"status=429", 1, true});
  faults.push_back({"status=500", 3, true});
  faults.push_back({"reset=1000", 0, false});   // never recovers: a clean failure
  faults.push_back({"status=502", 0, false});
  faults.push_back({"loop", 0, false});
  faults.push_back({"short", 0, false});
  int deployed = 0, failed_cleanly = 0, partial = 0, run = 0;
  for (const auto& f : faults) {
    SCOPED_TRACE(f.spec + " x" + std::to_string(f.times));
    const fs::path dest = work / ("dest" + std::to_string(run));
    write_file(dest / "index.html", "previous");
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/" + f.spec + "/" + std::to_string(f.times) +
                            "/app.tgz?run=" + std::to_string(run++);
    write_file(work / "m.yml", "src: " + url + "\nchecksum: " + sha256_hex(tar) + "\ndest: " + dest.string() + "\n");
    auto r = run_process({haul_binary().string(), "deploy", file_url(work / "m.yml"), "--config", (work / "haul.yaml").string()});
    const bool complete = fs::exists(dest / "blob.bin") && sha256_file(dest / "blob.bin") == sha256_hex(payload) &&
                          read_file(dest / "index.html") == "release";
    const bool untouched = !fs::exists(dest / "blob.bin") && read_file(dest / "index.html") == "previous";
    if (r.exit_code == 0 && complete) ++deployed;
    else if (r.exit_code == 1 && untouched) ++failed_cleanly;
    else ++partial;
    EXPECT_EQ(r.exit_code == 0, f.should_deploy) << r.err;
    EXPECT_TRUE(complete || untouched) << "partial release! " << r.err;
  }
  std::cout << faults.size() << " fault-injection runs: " << deployed << " deployed after retries, " << failed_cleanly
            << " failed cleanly, " << partial << " partial or corrupt\n";
  EXPECT_EQ(partial, 0);
}

// haul fetch -o FILE: FILE appears only whole and verified; a cut transfer
// or a wrong checksum leaves no FILE (and no temporary beside it); an
// existing FILE is kept unless --force.
TEST(NetworkFaults, FetchToAFileIsAtomic) {
  TempDir root, work;
  const std::string blob(400'000, 'z');
  write_file(root / "blob.bin", blob);
  FaultServer server(root.path(), work / "server.log");
  ASSERT_TRUE(server.ready()) << read_file(work / "server.log");
  const int port = server.port;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const fs::path out = work / "out/blob.bin";
  fs::create_directories(out.parent_path());
  auto fetch = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{haul_binary().string(), "fetch", "--retry", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv);
  };
  auto leftovers = [&] { return std::distance(fs::directory_iterator(out.parent_path()), fs::directory_iterator()); };

  auto r = fetch({base + "/reset=40000/0/blob.bin", "-o", out.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(fs::exists(out)) << "a cut transfer leaves nothing at FILE";
  EXPECT_EQ(leftovers(), 0);

  r = fetch({base + "/ok/0/blob.bin", "-o", out.string(), "--checksum", std::string(64, 'a')});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out)) << "unverified bytes never appear at FILE";
  EXPECT_EQ(leftovers(), 0);

  r = fetch({base + "/ok/0/blob.bin", "-o", out.string(), "--checksum", sha256_hex(blob)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out), blob);

  write_file(out, "precious");
  r = fetch({base + "/ok/0/blob.bin", "-o", out.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exists; refusing to overwrite it (--force replaces it)"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(out), "precious");
  r = fetch({base + "/ok/0/blob.bin", "-o", out.string(), "--force"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out), blob);
  EXPECT_EQ(leftovers(), 1);
}

// A file replaced on the server between a cut transfer and its resume (a
// publish landing between two attempts), with real nginx behind a proxy that
// cuts the first GET and holds the resume until the file is replaced: haul
// fetch -o FILE ends with the new file whole — never the old one's head on
// the new one's tail.
TEST(NetworkFaults, AFileReplacedBetweenTheCutAndTheResumeIsFetchedWholeNeverSpliced) {
  TempDir root, work;
  const std::string v1 = random_bytes(300'000, 1), v2 = random_bytes(300'000, 2);
  write_file(root / "app.bin", v1);
  NginxServer nginx(root.path());
  CutProxy proxy(nginx.url(""));
  proxy.cut("/app.bin", 100'000);
  const std::string url = proxy.endpoint() + "/app.bin";
  BackgroundProcess fetch({haul_binary().string(), "fetch", url, "-o", (work / "out.bin").string(), "--retry", "2",
                           "--retry-wait", "10ms"},
                          work / "haul.log");
  ASSERT_TRUE(wait_until([&] { return proxy.held() > 0 || !fetch.running(); })) << read_file(work / "haul.log");
  ASSERT_TRUE(proxy.was_cut()) << read_file(work / "haul.log");
  // The new release: another size and mtime, so nginx's ETag and Last-Modified move as they would.
  write_file(root / ".app.bin.new", v2 + "!");
  fs::last_write_time(root / ".app.bin.new", fs::last_write_time(root / "app.bin") - std::chrono::hours(1));
  fs::rename(root / ".app.bin.new", root / "app.bin");
  proxy.release();
  const auto exit_code = fetch.wait_exit(std::chrono::seconds(60));
  const std::string log = read_file(work / "haul.log");
  ASSERT_EQ(exit_code, 0) << log;
  EXPECT_EQ(sha256_file(work / "out.bin"), sha256_hex(v2 + "!")) << "the new file, whole: " << log;
  EXPECT_NE(log.find(url + ": GET " + url + ": the resume at byte 100000 was answered with the whole object (HTTP 200): "
                     "its ETag changed since the download started"),
            std::string::npos)
      << "nginx found the If-Range stale; the change is named: " << log;
  EXPECT_NE(log.find("; fetching it again from its start"), std::string::npos) << log;
}

// A server that names no version of what it serves (no ETag, no
// Last-Modified) gives nothing to pin a resume to: after a cut, the transfer
// starts over from byte 0 instead of appending the file that is there now.
TEST(NetworkFaults, WithoutValidatorsACutTransferStartsOverInsteadOfResuming) {
  TempDir root, work;
  const std::string v1 = random_bytes(300'000, 1), v2 = random_bytes(300'000, 2);
  write_file(root / "app.bin", v1);
  write_file(root / "app.bin.next", v2);
  FaultServer server(root.path(), work / "server.log");
  ASSERT_TRUE(server.ready()) << read_file(work / "server.log");
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port) + "/replace=100000/1/app.bin?validators=0";
  auto r = run_process({haul_binary().string(), "fetch", url, "-o", (work / "out.bin").string(), "--retry", "2",
                        "--retry-wait", "10ms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sha256_file(work / "out.bin"), sha256_hex(v2)) << "whole, from byte 0: " << r.err;
  EXPECT_NE(r.err.find(url + ": cannot resume at byte 100000: the source named no version of the object"),
            std::string::npos)
      << r.err;
}
