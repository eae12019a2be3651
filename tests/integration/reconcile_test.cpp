// SPDX-License-Identifier: Apache-2.0
// The desired-release pointer: an agent that missed its event converges
// within one reconcile interval, an unchanged pointer causes nothing, an
// operator's rollback is not undone, a bad manifest is refused, an
// unreachable store is retried — and `haul reconcile` / `haul status` see it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <mutex>

#include "http_stub_server.hpp"
#include "test_support.hpp"

using namespace haul::test;

namespace {

size_t occurrences(const fs::path& path, const std::string& needle) {
  if (!fs::exists(path)) return 0;
  const std::string s = read_file(path);
  size_t n = 0;
  for (size_t pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + 1)) ++n;
  return n;
}

class Desired : public ::testing::Test {
 protected:
  TempDir tmp;
  ConsulDouble consul;
  fs::path dest = tmp / "www";
  fs::path store = tmp / "store";
  std::unique_ptr<BackgroundProcess> agent;
  int runs = 0, publishes = 0;

  void SetUp() override {
    auto k = run_process({haul_binary().string(), "keygen", "-o", (tmp / "release").string()});
    ASSERT_EQ(k.exit_code, 0) << k.err;
  }

  // Packs and publishes a release of one index.html; returns the manifest URL.
  std::string publish(const std::string& release, const std::string& created_at, const std::string& strategy = "rsync",
                      const std::string& key = "release", const std::string& hooks_file = "") {
    // Each release a different length: rsync's quick check (size + mtime,
    // one-second tar mtimes) would keep a same-size file packed in the same second.
    write_file(tmp / "src" / release / "index.html", release + "\n" + std::string(++publishes, '+'));
    const fs::path art = tmp / (release + ".tar.gz");
    auto p = run_process({haul_binary().string(), "pack", (tmp / "src" / release).string(), "-o", art.string()});
    EXPECT_EQ(p.exit_code, 0) << p.err;
    auto r = run_process({haul_binary().string(), "publish", art.string(), "--to", file_url(store), "--role", "web",
                          "--stage", "prod", "--dest", dest.string(), "--sync-strategy", strategy, "--release", release,
                          "--created-at", created_at, "--sign", (tmp / (key + ".key")).string(),
                          "--hooks", hooks_file.empty() ? "/dev/null" : hooks_file});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return file_url(store / "manifest_web_prod.yml");
  }
  std::string pointer() const { return file_url(store / "latest_web_prod.yml"); }

  void write_config(const std::string& interval, const std::string& desired = "", const std::string& hooks = "[shell]") {
    write_file(tmp / "haul.yaml",
               "state_dir: " + (tmp / "state").string() + "\npipelines:\n  web:\n"
               "    trigger: { type: consul-http, address: '" + consul.address() + "', event: deploy_web_prod, wait: 10s }\n"
               "    hooks: " + hooks + "\n"
               "    desired: " + (desired.empty() ? pointer() : desired) + "\n"
               "    reconcile_interval: " + interval + "\n"
               "    deploy: { trusted_keys: [" + (tmp / "release.pub").string() + "] }\n");
  }
  fs::path log() const { return tmp / ("agent-" + std::to_string(runs) + ".log"); }
  void start_agent() {
    ++runs;
    agent = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{haul_binary().string(), "agent", "--config", (tmp / "haul.yaml").string(), "--log-level", "debug"},
        log());
  }
  // The release a dest (or release folder) holds.
  std::string release_in(const fs::path& dir) const {
    const std::string s = read_file(dir / "index.html");
    return s.substr(0, s.find('\n'));
  }
  std::string current() const { return release_in(dest); }
};

}  // namespace

TEST_F(Desired, AgentThatMissedTheEventDeploysWithinOneInterval) {
  publish("r1", "2026-11-01T00:00:00Z");
  ASSERT_EQ(run_process({haul_binary().string(), "deploy", file_url(store / "manifest_web_prod.yml")}).exit_code, 0);
  ASSERT_EQ(current(), "r1");
  // r2 is published and announced while the agent is down: the event is gone.
  const std::string url = publish("r2", "2026-11-02T00:00:00Z");
  consul.fire("deploy_web_prod", url);
  consul.stop();
  consul.start();  // a restarted Consul agent: its event buffer is empty
  write_config("1s");
  start_agent();
  ASSERT_TRUE(wait_until([&] { return fs::exists(dest / "index.html") && current() == "r2"; }, std::chrono::seconds(20)))
      << read_file(log());
  EXPECT_TRUE(file_contains(log(), "desired release: " + dest.string() + " runs r1; the desired release is r2; deploying"));
  EXPECT_TRUE(file_contains(log(), "Signature OK")) << "the same signature checks as an event";
}

TEST_F(Desired, UnchangedPointerCausesNoRedeployOverManyIntervals) {
  publish("r1", "2026-11-01T00:00:00Z");
  write_config("200ms");
  start_agent();
  ASSERT_TRUE(wait_until([&] { return fs::exists(dest / "index.html") && current() == "r1"; })) << read_file(log());
  // Let the check run many times more.
  ASSERT_TRUE(wait_until([&] { return occurrences(log(), "runs the desired release r1") >= 10; }, std::chrono::seconds(30)))
      << read_file(log());
  EXPECT_EQ(occurrences(log(), "Deploy manifest succeeded."), 1u) << read_file(log());
}

TEST_F(Desired, ADeploySlowerThanTheIntervalIsNotQueuedAgain) {
  // The deploy's pre command waits for a gate the test opens.
  const fs::path gate = tmp / "gate";
  write_file(tmp / "hooks.yml", "default:\n  pre: ['while [ ! -e " + gate.string() + " ]; do sleep 0.05; done']\n");
  publish("r1", "2026-11-01T00:00:00Z", "rsync", "release", (tmp / "hooks.yml").string());
  write_config("200ms");
  start_agent();
  ASSERT_TRUE(wait_until([&] { return occurrences(log(), "its deploy is already queued or running") >= 3; },
                         std::chrono::seconds(30)))
      << read_file(log());
  write_file(gate, "");
  ASSERT_TRUE(wait_until([&] { return occurrences(log(), "runs the desired release r1") >= 3; }, std::chrono::seconds(30)))
      << read_file(log());
  EXPECT_EQ(occurrences(log(), "Deploy manifest succeeded."), 1u) << read_file(log());
}

TEST_F(Desired, PinnedRollbackIsNotUndoneUntilThePointerChanges) {
  publish("r1", "2026-11-01T00:00:00Z", "release");
  write_config("200ms");
  start_agent();
  ASSERT_TRUE(wait_until([&] { return fs::exists(dest / "current/index.html") && release_in(dest / "current") == "r1"; }))
      << read_file(log());
  publish("r2", "2026-11-02T00:00:00Z", "release");
  ASSERT_TRUE(wait_until([&] { return release_in(dest / "current") == "r2"; })) << read_file(log());

  auto rb = run_process({haul_binary().string(), "rollback", dest.string()});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(release_in(dest / "current"), "r1");
  const size_t before = occurrences(log(), "rolled back from r2 to r1 by an operator");
  ASSERT_TRUE(wait_until([&] { return occurrences(log(), "rolled back from r2 to r1 by an operator") >= before + 5; },
                         std::chrono::seconds(30)))
      << read_file(log());
  EXPECT_EQ(release_in(dest / "current"), "r1") << "the agent left the operator's rollback alone";

  publish("r3", "2026-11-03T00:00:00Z", "release");
  ASSERT_TRUE(wait_until([&] { return release_in(dest / "current") == "r3"; })) << read_file(log());
}

// v3 is desired; the operator rolls back to v2, then further to v1. The
// pin holds against v3 — the release first rolled back from — through
// reconciles and an agent restart, until a new release is published.
TEST_F(Desired, ASecondRollbackKeepsThePinOfTheFirst) {
  for (const auto& [r, at] : {std::pair{"r1", "01"}, {"r2", "02"}, {"r3", "03"}}) {
    publish(r, std::string("2026-11-") + at + "T00:00:00Z", "release");
    ASSERT_EQ(run_process({haul_binary().string(), "deploy", file_url(store / "manifest_web_prod.yml")}).exit_code, 0);
  }
  ASSERT_EQ(release_in(dest / "current"), "r3");
  ASSERT_EQ(run_process({haul_binary().string(), "rollback", dest.string()}).exit_code, 0);
  ASSERT_EQ(release_in(dest / "current"), "r2");
  auto rb = run_process({haul_binary().string(), "rollback", dest.string(), "--to", "r1"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_NE(rb.err.find("until the desired release changes from r3"), std::string::npos) << rb.err;
  write_config("200ms");
  for (int start = 0; start < 2; ++start) {  // the agent's first check, and a restart's
    start_agent();
    ASSERT_TRUE(wait_until([&] { return occurrences(log(), "rolled back from r3 to r1 by an operator") >= 3; },
                           std::chrono::seconds(30)))
        << read_file(log());
    EXPECT_EQ(release_in(dest / "current"), "r1") << read_file(log());
    agent.reset();
  }
  publish("r4", "2026-11-04T00:00:00Z", "release");
  start_agent();
  ASSERT_TRUE(wait_until([&] { return release_in(dest / "current") == "r4"; })) << read_file(log());
}

// A desired release whose verify fails here: the failure of its event
// counts, so the desired-release check backs off from the first failure —
// every attempt is counted, each replaces the failed release folder instead
// of piling up r2-2, r2-3 — and an operator's rollback meanwhile is pinned
// against what the pointer names (r2, which never ran), not against what
// dest ran when they rolled back.
TEST_F(Desired, AReleaseFailingHereIsRetriedWithBackOffAndARollbackPinsAgainstThePointer) {
  write_file(tmp / "verify-fails.yml", "default:\n  verify: ['exit 1']\n");
  publish("r0", "2026-11-01T00:00:00Z", "release");
  ASSERT_EQ(run_process({haul_binary().string(), "deploy", file_url(store / "manifest_web_prod.yml")}).exit_code, 0);
  publish("r1", "2026-11-02T00:00:00Z", "release");
  ASSERT_EQ(run_process({haul_binary().string(), "deploy", file_url(store / "manifest_web_prod.yml")}).exit_code, 0);
  const std::string bad = publish("r2", "2026-11-03T00:00:00Z", "release", "release", (tmp / "verify-fails.yml").string());
  write_config("1s");
  start_agent();
  consul.fire("deploy_web_prod", bad);
  ASSERT_TRUE(wait_until([&] { return file_contains(log(), "failed 3 time(s) here; next attempt in"); },
                         std::chrono::seconds(60)))
      << read_file(log());
  EXPECT_EQ(occurrences(log(), "Deploy manifest failed"), 3u) << "the count says every attempt: " << read_file(log());
  EXPECT_EQ(release_in(dest / "current"), "r1");
  EXPECT_FALSE(fs::exists(dest / "releases/r2-2")) << "a retry replaces the failed folder";

  auto rb = run_process({haul_binary().string(), "rollback", dest.string(), "--config", (tmp / "haul.yaml").string(), "--to",
                         "r0"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_NE(rb.err.find("until the desired release changes from r2"), std::string::npos) << rb.err;
  ASSERT_TRUE(wait_until([&] { return occurrences(log(), "rolled back from r2 to r0 by an operator") >= 3; },
                         std::chrono::seconds(60)))
      << read_file(log());
  EXPECT_EQ(release_in(dest / "current"), "r0");
}

TEST_F(Desired, BadSignatureOrChecksumIsRefusedAndReported) {
  publish("r1", "2026-11-01T00:00:00Z");
  write_config("200ms");
  start_agent();
  ASSERT_TRUE(wait_until([&] { return fs::exists(dest / "index.html") && current() == "r1"; })) << read_file(log());

  // Signed by a key the agent does not trust.
  ASSERT_EQ(run_process({haul_binary().string(), "keygen", "-o", (tmp / "intruder").string()}).exit_code, 0);
  publish("r2", "2026-11-02T00:00:00Z", "rsync", "intruder");
  ASSERT_TRUE(wait_until([&] { return file_contains(log(), "which is not a trusted key"); })) << read_file(log());
  EXPECT_EQ(current(), "r1");

  // A manifest altered after the pointer was written.
  agent.reset();
  publish("r3", "2026-11-03T00:00:00Z");
  std::string m = read_file(store / "manifest_web_prod.yml");
  m.replace(m.find("dest: "), 6, "dest:  ");
  write_file(store / "manifest_web_prod.yml", m);

  start_agent();
  ASSERT_TRUE(wait_until([&] { return file_contains(log(), "but it has"); })) << read_file(log());
  EXPECT_TRUE(file_contains(log(), "cannot read " + pointer()));
  EXPECT_EQ(current(), "r1");
  EXPECT_TRUE(agent->running());
}

TEST_F(Desired, UnreachableStoreIsRetriedWithBackOffThenConverges) {
  std::mutex mu;
  bool healthy = false;
  HttpStubServer server([&](const StubRequest& req) {
    std::lock_guard<std::mutex> lock(mu);
    if (!healthy) return StubResponse(503, "down for maintenance");
    const fs::path file = store / fs::path(req.target).filename();
    return fs::exists(file) ? StubResponse(200, read_file(file)) : StubResponse(404, "no");
  });
  publish("r1", "2026-11-01T00:00:00Z");
  write_config("4s", server.url("/latest_web_prod.yml"));
  start_agent();
  ASSERT_TRUE(wait_until([&] { return occurrences(log(), "desired release: cannot read") >= 3; }, std::chrono::seconds(30)))
      << read_file(log());
  EXPECT_TRUE(file_contains(log(), "HTTP 503"));
  EXPECT_TRUE(file_contains(log(), "retrying in 1s"));
  EXPECT_TRUE(file_contains(log(), "retrying in 2s")) << "the wait doubles";
  EXPECT_TRUE(agent->running());
  {
    std::lock_guard<std::mutex> lock(mu);
    healthy = true;
  }
  ASSERT_TRUE(wait_until([&] { return fs::exists(dest / "index.html") && current() == "r1"; }, std::chrono::seconds(30)))
      << read_file(log());
}

TEST_F(Desired, ReconcileCommandForCronAndStatusShowsBehind) {
  publish("r1", "2026-11-01T00:00:00Z");
  write_config("5m", "", "[shell, {type: consul-status, address: '" + consul.address() + "', heartbeat_ttl: 0s}]");
  const std::string cfg = (tmp / "haul.yaml").string();
  auto r = run_process({haul_binary().string(), "reconcile", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deployed desired release r1"), std::string::npos) << r.out;
  EXPECT_EQ(current(), "r1");
  r = run_process({haul_binary().string(), "reconcile", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("runs the desired release r1"), std::string::npos) << r.out;

  publish("r2", "2026-11-02T00:00:00Z");
  auto st = run_process({haul_binary().string(), "status", "--consul", consul.address(), "--config", cfg, "--json"});
  ASSERT_EQ(st.exit_code, 1) << "behind the desired release: " << st.err;
  auto rows = nlohmann::json::parse(st.out);
  ASSERT_EQ(rows.size(), 1u) << st.out;
  EXPECT_EQ(rows[0]["release"], "r1");
  EXPECT_EQ(rows[0]["desired_release"], "r2");
  EXPECT_EQ(rows[0]["on_desired_release"], false);
  EXPECT_GT(rows[0]["behind_seconds"].get<int64_t>(), 0);
  auto table = run_process({haul_binary().string(), "status", "--consul", consul.address(), "--config", cfg});
  EXPECT_NE(table.out.find("behind desired r2 for"), std::string::npos) << table.out;

  r = run_process({haul_binary().string(), "reconcile", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  st = run_process({haul_binary().string(), "status", "--consul", consul.address(), "--desired", pointer(), "--json"});
  rows = nlohmann::json::parse(st.out);
  EXPECT_EQ(rows[0]["on_desired_release"], true) << st.out;
  EXPECT_TRUE(rows[0]["alive"].is_null()) << "run from cron, with no agent to keep a heartbeat: unknown, not dead";
  EXPECT_EQ(st.exit_code, 0) << st.out;

  write_file(tmp / "plain.yaml", "pipelines:\n  web:\n    trigger: consul-watch\n");
  r = run_process({haul_binary().string(), "reconcile", "--config", (tmp / "plain.yaml").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("has no desired: pointer"), std::string::npos) << r.err;
}
