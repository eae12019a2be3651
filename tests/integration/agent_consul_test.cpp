// SPDX-License-Identifier: Apache-2.0
// `haul agent` with the consul-http trigger against the Consul HTTP API test
// double: deploy on fire, exactly-once across restarts and buffer replays,
// coalescing, Consul going away, ACL refusals, and fleet status in KV.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "test_support.hpp"

using namespace haul::test;

namespace {

class Agent : public ::testing::Test {
 protected:
  TempDir tmp;
  ConsulDouble consul;
  fs::path deploys = tmp / "deploys.log";  // one line per deploy: the event ID
  std::unique_ptr<BackgroundProcess> agent;
  int runs = 0;

  // A release whose post command records which event deployed it.
  std::string publish(const std::string& name, const std::string& pre = "") {
    const std::string tar = make_tar({file_entry("index.html", name)});
    write_file(tmp / (name + ".tgz"), tar);
    std::string commands = "commands:\n  post: ['echo $HAUL_EVENT_ID >> " + deploys.string() + "']\n";
    if (!pre.empty()) commands += "  pre: ['" + pre + "']\n";
    write_file(tmp / (name + ".yml"), "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                          "\ndest: " + (tmp / "www").string() + "\n" + commands);
    return file_url(tmp / (name + ".yml"));
  }

  void write_config(const std::string& trigger_extra = "", const std::string& hooks = "[shell]") {
    write_file(tmp / "haul.yaml", "state_dir: " + (tmp / "state").string() +
                                      "\npipelines:\n  web:\n    trigger: { type: consul-http, address: '" +
                                      consul.address() + "', event: deploy_web, wait: 10s, min_interval: 50ms" +
                                      trigger_extra + " }\n    hooks: " + hooks + "\n");
  }

  fs::path log() const { return tmp / ("agent-" + std::to_string(runs) + ".log"); }

  void start_agent() {
    ++runs;
    agent = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{haul_binary().string(), "agent", "--config", (tmp / "haul.yaml").string()}, log());
  }
  void stop_agent() { agent.reset(); }

  bool logged(const std::string& text, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    return wait_until([&] { return file_contains(log(), text); }, timeout);
  }
  std::vector<std::string> deployed() {
    std::vector<std::string> out;
    if (!fs::exists(deploys)) return out;
    std::string s = read_file(deploys);
    size_t pos = 0, nl;
    while ((nl = s.find('\n', pos)) != std::string::npos) {
      out.push_back(s.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }
};

}  // namespace

TEST_F(Agent, DeploysOnFireAndNeverTwiceAcrossRestarts) {
  write_config();
  start_agent();
  ASSERT_TRUE(logged("watching Consul event 'deploy_web'")) << read_file(log());
  std::string url = publish("v1");
  std::string e1 = consul.fire("deploy_web", url);
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 1; })) << read_file(log());
  EXPECT_EQ(deployed(), std::vector<std::string>{e1});
  EXPECT_EQ(read_file(tmp / "www/index.html"), "v1");
  ASSERT_TRUE(logged("deploy of " + url + " succeeded"));
  stop_agent();

  // Restart: Consul still buffers e1, the agent must not apply it again.
  start_agent();
  ASSERT_TRUE(logged("event " + e1 + " was already applied; not deploying it again")) << read_file(log());
  // The same URL in a new event is a deliberate redeploy.
  std::string e2 = consul.fire("deploy_web", url);
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 2; })) << read_file(log());
  EXPECT_EQ(deployed(), (std::vector<std::string>{e1, e2}));
  // The state is recorded once the deploy (post, then success hooks) is over.
  nlohmann::json state;
  ASSERT_TRUE(wait_until([&] {
    state = nlohmann::json::parse(read_file(tmp / "state/web.json"));
    return state["last"]["id"] == e2;
  })) << state.dump();
  EXPECT_EQ(state["last"]["result"], "success");
  EXPECT_EQ(state["last"]["manifest_url"], url);
  EXPECT_EQ(state["last"]["manifest_sha256"].get<std::string>().size(), 64u);
}

TEST_F(Agent, AFullBufferReplayDeploysOnlyTheNewestOnce) {
  std::string last;
  for (int i = 0; i < 5; ++i) last = consul.fire("deploy_web", publish("r" + std::to_string(i)));
  consul.fire("deploy_other_role", publish("other"));
  write_config();
  start_agent();
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 1; })) << read_file(log());
  EXPECT_EQ(deployed(), std::vector<std::string>{last});
  EXPECT_EQ(read_file(tmp / "www/index.html"), "r4");
  stop_agent();
  start_agent();
  ASSERT_TRUE(logged("event " + last + " was already applied"));
  stop_agent();
  EXPECT_EQ(count_lines(deploys), 1u);
}

TEST_F(Agent, ABurstWhileDeployingCoalescesToTheNewest) {
  write_config();
  start_agent();
  ASSERT_TRUE(logged("watching Consul event"));
  const fs::path started = tmp / "started", gate = tmp / "gate";
  // The first deploy holds in pre until the test opens the gate.
  std::string slow = publish("slow", "touch " + started.string() + "; while [ ! -f " + gate.string() + " ]; do sleep 0.02; done");
  std::string first = consul.fire("deploy_web", slow);
  ASSERT_TRUE(wait_until([&] { return fs::exists(started); })) << read_file(log());
  std::string newest;
  for (int i = 0; i < 4; ++i) newest = consul.fire("deploy_web", publish("burst" + std::to_string(i)));
  ASSERT_TRUE(logged("event " + newest)) << read_file(log());
  write_file(gate, "");
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 2; })) << read_file(log());
  EXPECT_EQ(deployed(), (std::vector<std::string>{first, newest}));
  EXPECT_EQ(read_file(tmp / "www/index.html"), "burst3");
}

TEST_F(Agent, ConsulGoingAwayAndComingBack) {
  write_config();
  start_agent();
  ASSERT_TRUE(logged("watching Consul event"));
  consul.stop();
  ASSERT_TRUE(logged("retrying in")) << read_file(log());
  consul.start();
  ASSERT_TRUE(logged("is answering again", std::chrono::seconds(60))) << read_file(log());
  std::string e = consul.fire("deploy_web", publish("after-outage"));
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 1; })) << read_file(log());
  EXPECT_EQ(deployed(), std::vector<std::string>{e});
}

TEST(AgentAcl, WrongTokenIsReportedAsAMissingPermission) {
  TempDir tmp;
  ConsulDouble consul("right-token");
  write_file(tmp / "haul.yaml", "state_dir: " + (tmp / "state").string() +
                                    "\npipelines:\n  web:\n    trigger: { type: consul-http, address: '" +
                                    consul.address() + "', event: deploy_web, token: wrong-token }\n");
  BackgroundProcess agent({haul_binary().string(), "agent", "--config", (tmp / "haul.yaml").string()}, tmp / "agent.log");
  ASSERT_TRUE(wait_until([&] { return file_contains(tmp / "agent.log", "the ACL token needs event:read"); }))
      << read_file(tmp / "agent.log");
  EXPECT_TRUE(file_contains(tmp / "agent.log", "lacks permission 'event:read'"));
  EXPECT_FALSE(file_contains(tmp / "agent.log", "wrong-token")) << "tokens are never logged";
}

TEST_F(Agent, StatusIsWrittenToConsulAndShownByHaulStatus) {
  write_config("", "[shell, { type: consul-status, address: '" + consul.address() + "', node: node-a, heartbeat_ttl: 10s }]");
  start_agent();
  ASSERT_TRUE(logged("watching Consul event"));
  std::string url = publish("v2");
  std::string e = consul.fire("deploy_web", url);
  // The namespace is the pipeline's event (no namespace: in the config).
  ASSERT_TRUE(logged("status written to Consul KV haul/status/deploy_web/web/node-a")) << read_file(log());
  // A second node that is still on an older release, and no longer alive
  // (its agent died a minute ago).
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json old = {{"schema", 2}, {"node", "node-b"}, {"pipeline", "web"}, {"namespace", "deploy_web"},
                        {"release", "file:///old.yml"}, {"running_release", "file:///old.yml"}, {"result", "success"},
                        {"finished_at_unix_ms", now_ms - 60000}, {"error", ""}};
  ASSERT_EQ(http_request("PUT", consul.address() + "/v1/kv/haul/status/deploy_web/web/node-b", old.dump()).status, 200);

  ProcessOptions o;
  o.unset_env = {"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN"};
  auto r = run_process({haul_binary().string(), "status", "--consul", consul.address(), "--json"}, o);
  ASSERT_EQ(r.exit_code, 1) << "node-b needs attention: " << r.err;
  auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[0]["node"], "node-a");
  EXPECT_EQ(rows[0]["event_id"], e);
  EXPECT_EQ(rows[0]["release"], url);
  EXPECT_EQ(rows[0]["running_release"], url) << "a manifest without release: its URL names it";
  EXPECT_EQ(rows[0]["result"], "success");
  EXPECT_TRUE(rows[0]["alive"].get<bool>()) << "the heartbeat session is held";
  EXPECT_TRUE(rows[0]["on_newest_release"].get<bool>());
  EXPECT_NE(rows[0]["log_tail"].get<std::string>().find("Deploy manifest succeeded."), std::string::npos);
  EXPECT_FALSE(rows[1]["alive"].get<bool>());
  EXPECT_FALSE(rows[1]["on_newest_release"].get<bool>());

  r = run_process({haul_binary().string(), "status", "--consul", consul.address(), "--pipeline", "web"}, o);
  ASSERT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("node-a"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("! file:///old.yml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 node(s) not running their pipeline's newest release"), std::string::npos) << r.out;
  r = run_process({haul_binary().string(), "status", "--consul", consul.address(), "--pipeline", "wbe"}, o);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no node reported pipeline 'wbe' to Consul at " + consul.address() +
                       "; pipelines reporting: deploy_web/web"),
            std::string::npos)
      << r.err;
  // node-b catches up: the fleet is healthy, exit 0.
  ASSERT_EQ(http_request("DELETE", consul.address() + "/v1/kv/haul/status/deploy_web/web/node-b").status, 200);
  r = run_process({haul_binary().string(), "status", "--consul", consul.address()}, o);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // A stopped agent gives up its heartbeat.
  stop_agent();
  r = run_process({haul_binary().string(), "status", "--consul", consul.address(), "--json"}, o);
  EXPECT_FALSE(nlohmann::json::parse(r.out)[0]["alive"].get<bool>());
}

TEST(HandlerState, ConsulWatchReplayIsNotAppliedTwiceWithAStateDir) {
  TempDir tmp;
  const std::string tar = make_tar({file_entry("index.html", "x")});
  write_file(tmp / "app.tgz", tar);
  write_file(tmp / "m.yml", "src: " + file_url(tmp / "app.tgz") + "\nchecksum: " + sha256_hex(tar) + "\ndest: " +
                                (tmp / "www").string() + "\ncommands:\n  post: ['echo x >> " + (tmp / "n").string() + "']\n");
  std::string payload = "ZmlsZTov";  // replaced below with the real base64
  ProcessOptions o;
  o.env = {{"CONSUL_INDEX", "7"}};
  std::string url = file_url(tmp / "m.yml");
  // base64 via the same tool consul watch users have: coreutils
  ProcessOptions b64;
  b64.stdin_text = url;
  payload = run_process({"/usr/bin/base64", "-w0"}, b64).out;
  o.stdin_text = R"([{"ID":"11111111-2222-3333-4444-555555555555","Name":"deploy","Payload":")" + payload + R"(","LTime":3}])";
  for (int run = 0; run < 2; ++run) {
    auto r = run_process({haul_binary().string(), "--state-dir", (tmp / "state").string()}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (run == 1) {
      EXPECT_NE(r.err.find("was already applied"), std::string::npos) << r.err;
    }
  }
  EXPECT_EQ(count_lines(tmp / "n"), 1u);
}

TEST_F(Agent, PrometheusMetricsAreServedAndWrittenAsATextfile) {
  const int port = free_port();
  write_file(tmp / "haul.yaml", "state_dir: " + (tmp / "state").string() + "\nmetrics_listen: 127.0.0.1:" +
                                    std::to_string(port) + "\nmetrics_textfile: " + (tmp / "haul.prom").string() +
                                    "\npipelines:\n  web:\n    trigger: { type: consul-http, address: '" + consul.address() +
                                    "', event: deploy_web, min_interval: 50ms }\n");
  start_agent();
  ASSERT_TRUE(logged("metrics on http://127.0.0.1:" + std::to_string(port))) << read_file(log());
  std::string url = publish("metered");
  consul.fire("deploy_web", url);
  ASSERT_TRUE(wait_until([&] { return file_contains(tmp / "haul.prom", "result=\"success\"} 1"); })) << read_file(log());
  auto scraped = http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/metrics");
  ASSERT_EQ(scraped.status, 200);
  // Parse the exposition format: every sample line is NAME{LABELS} VALUE.
  std::map<std::string, double> samples;
  std::istringstream lines(scraped.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  EXPECT_EQ(samples["haul_deploys_total{pipeline=\"web\",result=\"success\"}"], 1);
  EXPECT_EQ(samples["haul_deploys_total{pipeline=\"web\",result=\"failure\"}"], 0);
  EXPECT_EQ(samples["haul_deploy_duration_seconds_count{pipeline=\"web\"}"], 1);
  EXPECT_EQ(samples["haul_deploy_duration_seconds_bucket{pipeline=\"web\",le=\"+Inf\"}"], 1);
  EXPECT_GT(samples["haul_downloaded_bytes_total{pipeline=\"web\"}"], 0);
  EXPECT_GT(samples["haul_last_success_timestamp_seconds{pipeline=\"web\"}"], 1.7e9);
  EXPECT_EQ(samples["haul_release_info{pipeline=\"web\",release=\"" + url + "\"}"], 1);
  EXPECT_EQ(read_file(tmp / "haul.prom"), scraped.body);
}

// Consul lost its state (a dev agent restarted): event LTimes start again at
// 1. New events are still deployed; an event for the manifest that already
// runs changes nothing; no event ID is applied twice.
TEST_F(Agent, AConsulThatLostItsStateDoesNotSwallowNewEvents) {
  write_config();
  start_agent();
  ASSERT_TRUE(logged("watching Consul event 'deploy_web'")) << read_file(log());
  const std::string v1 = publish("v1"), v2 = publish("v2"), v3 = publish("v3"), v4 = publish("v4");
  std::string e1 = consul.fire("deploy_web", v1);
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 1; })) << read_file(log());
  std::string e2 = consul.fire("deploy_web", v2);  // ltime 2
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 2; })) << read_file(log());

  consul.stop();
  consul.start();  // empty: the next event has ltime 1 again
  std::string e3 = consul.fire("deploy_web", v2);
  ASSERT_TRUE(logged("the event history was reset")) << read_file(log());
  ASSERT_TRUE(logged(v2 + " is already applied; nothing deployed")) << read_file(log());
  std::string e4 = consul.fire("deploy_web", v3);  // ltime 2
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 3; })) << read_file(log());
  EXPECT_EQ(read_file(tmp / "www/index.html"), "v3");

  consul.stop();
  consul.start();
  std::string e5 = consul.fire("deploy_web", v4);  // ltime 1, a release never deployed
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 4; })) << read_file(log());
  EXPECT_EQ(read_file(tmp / "www/index.html"), "v4");
  EXPECT_EQ(deployed(), (std::vector<std::string>{e1, e2, e4, e5}));
  stop_agent();
  start_agent();  // the restarted Consul still holds e5: not applied twice
  ASSERT_TRUE(logged("event " + e5 + " was already applied")) << read_file(log());
  EXPECT_EQ(count_lines(deploys), 4u);
}

// One Consul setting per agent: a top-level consul: block reaches the
// consul-http trigger, the consul-status hook and `haul status --config`;
// without it, consul-status writes where its pipeline's trigger reads.
TEST_F(Agent, OneConsulSettingReachesTriggerStatusHookAndHaulStatus) {
  write_file(tmp / "haul.yaml", "state_dir: " + (tmp / "state").string() + "\nconsul: { address: '" + consul.address() +
                                    "' }\npipelines:\n  web:\n    trigger: { type: consul-http, event: deploy_web, "
                                    "wait: 10s, min_interval: 50ms }\n    hooks: [shell, { type: consul-status, node: "
                                    "node-a, heartbeat_ttl: 0s }]\n");
  start_agent();
  ASSERT_TRUE(logged("watching Consul event 'deploy_web' at " + consul.address())) << read_file(log());
  consul.fire("deploy_web", publish("v1"));
  ASSERT_TRUE(logged("status written to Consul KV haul/status/deploy_web/web/node-a")) << read_file(log());
  ProcessOptions o;
  o.unset_env = {"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN"};
  auto r = run_process({haul_binary().string(), "status", "--config", (tmp / "haul.yaml").string(), "--json"}, o);
  ASSERT_NE(r.out.find("node-a"), std::string::npos) << r.out << r.err;
  stop_agent();

  // No block: the status hook follows the trigger's address.
  write_file(tmp / "haul.yaml", "state_dir: " + (tmp / "state").string() + "\npipelines:\n  web:\n    trigger: { type: "
                                    "consul-http, address: '" + consul.address() + "', event: deploy_web, wait: 10s, "
                                    "min_interval: 50ms }\n    hooks: [shell, { type: consul-status, node: node-b, "
                                    "heartbeat_ttl: 0s }]\n");
  start_agent();
  ASSERT_TRUE(logged("watching Consul event 'deploy_web'")) << read_file(log());
  consul.fire("deploy_web", publish("v2"));
  ASSERT_TRUE(logged("status written to Consul KV haul/status/deploy_web/web/node-b")) << read_file(log());
  r = run_process({haul_binary().string(), "status", "--config", (tmp / "haul.yaml").string(), "--json"}, o);
  EXPECT_NE(r.out.find("node-b"), std::string::npos) << r.out << r.err;
}
