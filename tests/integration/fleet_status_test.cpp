// SPDX-License-Identifier: Apache-2.0
// `haul status` tells the truth after a week of operations: a restarted
// agent is alive again, a node shows what it runs beside what it last
// attempted, a decommissioned node goes away, two applications that both
// call a pipeline `web` are not compared, a stalled Consul fails within
// --timeout, and etcd with password auth is read from the config's own
// connection. Real `haul agent` processes, the Consul double and a real
// etcd cluster on 127.0.0.1.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "test_support.hpp"

using namespace haul::test;
using nlohmann::json;

namespace {

class FleetStatus : public ::testing::Test {
 protected:
  TempDir tmp;
  ConsulDouble consul;
  std::vector<std::unique_ptr<BackgroundProcess>> agents;

  // A release for `dest`; extra goes into its manifest (commands...).
  std::string publish(const std::string& name, const fs::path& dest, const std::string& extra = "") {
    const std::string tar = make_tar({file_entry("index.html", name)});
    write_file(tmp / (name + ".tgz"), tar);
    write_file(tmp / (name + ".yml"), "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                          "\ndest: " + dest.string() + "\nrelease: " + name +
                                          "\nsync_strategy: release\n" + extra);
    return file_url(tmp / (name + ".yml"));
  }

  fs::path config(const std::string& file, const std::string& event, const std::string& node,
                  const std::string& top = "", const std::string& ttl = "10s") {
    const fs::path f = tmp / file;
    write_file(f, top + "state_dir: " + (tmp / (file + ".state")).string() + "\npipelines:\n  web:\n"
                  "    trigger: { type: consul-http, address: '" + consul.address() + "', event: " + event +
                  ", wait: 10s, min_interval: 50ms }\n"
                  "    hooks: [shell, { type: consul-status, address: '" + consul.address() +
                  (node.empty() ? std::string() : "', node: '" + node) + "', heartbeat_ttl: " + ttl + " }]\n");
    return f;
  }
  fs::path log(size_t i) const { return tmp / ("agent-" + std::to_string(i) + ".log"); }
  size_t start_agent(const fs::path& cfg, const std::map<std::string, std::string>& env = {}) {
    agents.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{haul_binary().string(), "agent", "--config", cfg.string()}, log(agents.size() + 1), env));
    return agents.size();
  }
  bool logged(size_t agent, const std::string& text, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    return wait_until([&] { return file_contains(log(agent), text); }, timeout);
  }

  ProcessResult status(std::vector<std::string> args) {
    args.insert(args.begin(), {haul_binary().string(), "status"});
    ProcessOptions o;
    o.unset_env = {"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN"};
    return run_process(args, o);
  }
  json rows(std::vector<std::string> args) {
    args.push_back("--json");
    const ProcessResult r = status(args);
    const json j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out << r.err;
    return j;
  }

  // The session holding a key ("" when the key does not exist or is free).
  std::string holder(const std::string& key) {
    const HttpResult r = http_request("GET", consul.address() + "/v1/kv/" + key);
    if (r.status != 200) return "";
    return json::parse(r.body)[0].value("Session", "");
  }
  void put(const std::string& key, const json& value) {
    ASSERT_EQ(http_request("PUT", consul.address() + "/v1/kv/" + key, value.dump()).status, 200);
  }
};

size_t count_of_lines_with(const fs::path& file, const std::string& text) {
  std::istringstream in(fs::exists(file) ? read_file(file) : "");
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(text) != std::string::npos;
  return n;
}

uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace

// kill -9, and systemd starts the agent again (the shipped unit: 5 s later;
// here at once, while the killed run's session surely still holds the key).
// Before, the new agent's acquire answered false, was ignored, and once the
// old session lapsed the node was NO for good.
TEST_F(FleetStatus, AnAgentKilledAndRestartedIsAliveAgainAtOnce) {
  const fs::path cfg = config("haul.yaml", "deploy_web", "node-a");
  const size_t first = start_agent(cfg);
  consul.fire("deploy_web", publish("v1", tmp / "www"));
  ASSERT_TRUE(logged(first, "status written to Consul KV haul/status/deploy_web/web/node-a")) << read_file(log(first));
  const std::string killed_session = holder("haul/heartbeat/node-a");
  ASSERT_FALSE(killed_session.empty());
  ::kill(agents.back()->pid(), SIGKILL);
  agents.back()->wait_exit(std::chrono::seconds(10));

  const size_t second = start_agent(cfg);
  // Within 2×TTL (20 s), and in fact at its first heartbeat.
  ASSERT_TRUE(wait_until([&] { const auto h = holder("haul/heartbeat/node-a"); return !h.empty() && h != killed_session; },
                         std::chrono::seconds(20)))
      << read_file(log(second));
  EXPECT_TRUE(file_contains(log(second), "was held by a killed run of this agent")) << read_file(log(second));
  const HttpResult info = http_request("GET", consul.address() + "/v1/session/info/" + killed_session);
  EXPECT_EQ(json::parse(info.body), json::array()) << "the killed run's session was ended: " << info.body;
  const json r = rows({"--consul", consul.address()});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]["alive"], true) << r.dump();
}

// A heartbeat key held by a live process (another host using the same node
// name, say) is never taken from it; the agent takes it once it is free.
TEST_F(FleetStatus, AHeartbeatHeldByALiveProcessIsLeftToItUntilItEnds) {
  const HttpResult created = http_request("PUT", consul.address() + "/v1/session/create",
                                          R"({"TTL": "10s", "Behavior": "delete", "LockDelay": "0s"})");
  const std::string other = json::parse(created.body)["ID"];
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  std::getline(boot, boot_id);
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  for (int n = 3; n <= 22; ++n) fields >> field;  // starttime, field 22
  const json alive_holder = {{"node", "node-a"}, {"pid", getpid()}, {"boot_id", boot_id}, {"start_ticks", std::stoull(field)}};
  ASSERT_EQ(http_request("PUT", consul.address() + "/v1/kv/haul/heartbeat/node-a?acquire=" + other, alive_holder.dump()).body,
            "true");

  const size_t a = start_agent(config("haul.yaml", "deploy_web", "node-a"));
  ASSERT_TRUE(logged(a, "haul/heartbeat/node-a is held by session " + other)) << read_file(log(a));
  EXPECT_TRUE(file_contains(log(a), "Another haul agent on this host with the same node name?")) << read_file(log(a));
  EXPECT_EQ(holder("haul/heartbeat/node-a"), other) << "a live holder keeps its key";
  ASSERT_EQ(http_request("PUT", consul.address() + "/v1/session/destroy/" + other).status, 200);
  ASSERT_TRUE(wait_until([&] { const auto h = holder("haul/heartbeat/node-a"); return !h.empty() && h != other; }))
      << read_file(log(a));
  EXPECT_TRUE(logged(a, "haul/heartbeat/node-a is this agent's again")) << read_file(log(a));
}

// A deploy whose pre fails leaves the node on what it ran: status says so,
// with the failed attempt beside it; an operator's rollback is reported too.
TEST_F(FleetStatus, ANodeShowsWhatItRunsBesideItsLastAttempt) {
  // Named by HAUL_NODE, as the shipped unit's environment file does.
  const fs::path cfg = config("haul.yaml", "deploy_web", "");
  const size_t a = start_agent(cfg, {{"HAUL_NODE", "node-a"}});
  const fs::path dest = tmp / "www";
  consul.fire("deploy_web", publish("v1", dest));
  ASSERT_TRUE(logged(a, "deploy of " + file_url(tmp / "v1.yml") + " succeeded")) << read_file(log(a));
  consul.fire("deploy_web", publish("v2", dest, "commands:\n  pre: ['exit 3']\n"));
  ASSERT_TRUE(logged(a, "deploy of " + file_url(tmp / "v2.yml") + " failed")) << read_file(log(a));
  ASSERT_TRUE(wait_until([&] { return rows({"--consul", consul.address()})[0]["release"] == "v2"; }));
  json r = rows({"--consul", consul.address()});
  EXPECT_EQ(r[0]["running_release"], "v1") << r.dump();
  EXPECT_EQ(r[0]["result"], "failure");
  EXPECT_EQ(r[0]["release"], "v2") << "the attempt";
  EXPECT_EQ(r[0]["on_newest_release"], true) << "nobody runs v2: v1 is the newest that runs";
  ProcessResult table = status({"--consul", consul.address()});
  EXPECT_NE(table.out.find("v1 (for"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("failure v2,"), std::string::npos) << table.out;
  EXPECT_EQ(table.exit_code, 1) << "a failed attempt needs attention";

  consul.fire("deploy_web", publish("v3", dest));
  ASSERT_TRUE(logged(a, "deploy of " + file_url(tmp / "v3.yml") + " succeeded")) << read_file(log(a));
  const uint64_t since = rows({"--consul", consul.address()})[0]["running_since_unix_ms"];
  // The same release again changes nothing, not even how long it has run.
  consul.fire("deploy_web", file_url(tmp / "v3.yml"));
  ASSERT_TRUE(logged(a, "is already current in " + dest.string() + "; nothing to do")) << read_file(log(a));
  ASSERT_TRUE(wait_until([&] { return count_of_lines_with(log(a), "status written to Consul KV") == 4; })) << read_file(log(a));
  EXPECT_EQ(rows({"--consul", consul.address()})[0]["running_since_unix_ms"], since);
  // The operator rolls back by hand, from a shell without HAUL_NODE:
  // `haul rollback` finds the pipeline (and node) that deployed dest, and
  // its status hook reports what runs now.
  ProcessOptions shell;
  shell.unset_env = {"HAUL_NODE"};
  ProcessResult rb = run_process({haul_binary().string(), "rollback", dest.string()}, shell);
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_NE(rb.err.find("pipeline web of " + cfg.string()), std::string::npos) << rb.err;
  r = rows({"--consul", consul.address()});
  ASSERT_EQ(r.size(), 1u) << "no row under the shell's hostname: " << r.dump();
  EXPECT_EQ(r[0]["node"], "node-a");
  EXPECT_EQ(r[0]["running_release"], "v1") << r.dump();
  EXPECT_EQ(r[0]["result"], "rolled-back") << r.dump();
  EXPECT_EQ(r[0]["alive"], true) << "the rollback, a one-shot command, did not touch the agent's heartbeat";
}

TEST_F(FleetStatus, ADecommissionedNodeIsGoneAndCanBeForgotten) {
  const size_t a = start_agent(config("haul.yaml", "deploy_web", "node-a"));
  // Alive, before its first deploy: said so, not "no status".
  ASSERT_TRUE(wait_until([&] { return !holder("haul/heartbeat/node-a").empty(); })) << read_file(log(a));
  ProcessResult early = status({"--consul", consul.address()});
  EXPECT_NE(early.out.find("no node has reported a deploy yet"), std::string::npos) << early.out;
  EXPECT_NE(early.out.find("alive: node-a"), std::string::npos) << early.out;
  consul.fire("deploy_web", publish("v1", tmp / "www"));
  ASSERT_TRUE(logged(a, "status written to Consul KV")) << read_file(log(a));
  // node-old: its agent died two days ago, and it was last seen then.
  const uint64_t two_days_ago = now_ms() - 48ull * 3600 * 1000;
  put("haul/status/deploy_web/web/node-old",
      {{"schema", 2}, {"namespace", "deploy_web"}, {"node", "node-old"}, {"pipeline", "web"}, {"running_release", "v0"},
       {"release", "v0"}, {"result", "success"}, {"finished_at_unix_ms", two_days_ago}, {"heartbeat", true}});
  put("haul/seen/node-old", {{"node", "node-old"}, {"seen_at_unix_ms", two_days_ago}});

  ProcessResult r = status({"--consul", consul.address()});
  EXPECT_EQ(r.exit_code, 0) << "a gone node does not fail status: " << r.out << r.err;
  EXPECT_NE(r.out.find("node-old  gone"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[not seen for 48h"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("haul status --forget NODE"), std::string::npos) << r.out;
  r = status({"--consul", consul.address(), "--gone-after", "3d"});
  EXPECT_EQ(r.exit_code, 1) << "not gone yet by this measure: dead, and behind: " << r.out;
  EXPECT_NE(r.out.find("node-old  NO"), std::string::npos) << r.out;
  // Seen two minutes ago by an agent that refreshes every ten: it may have
  // been alive until eight minutes from now — not gone after one minute.
  put("haul/seen/node-old", {{"node", "node-old"}, {"seen_at_unix_ms", now_ms() - 120000}, {"next_within_ms", 600000}});
  r = status({"--consul", consul.address(), "--gone-after", "1m", "--json"});
  EXPECT_EQ(json::parse(r.out)[1]["gone"], false) << r.out;
  put("haul/seen/node-old", {{"node", "node-old"}, {"seen_at_unix_ms", two_days_ago}});
  r = status({"--consul", consul.address(), "--gone-after", "soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--gone-after: expected a duration like 10s or 24h, got 'soon'"), std::string::npos) << r.err;

  r = status({"--consul", consul.address(), "--forget", "node-a"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("node node-a is alive: its agent holds haul/heartbeat/node-a"), std::string::npos) << r.err;
  r = status({"--consul", consul.address(), "--forget", "node-ghost"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no status of node node-ghost"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nodes reporting: node-a, node-old"), std::string::npos) << r.err;
  r = status({"--consul", consul.address(), "--forget", "node-old"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("removed haul/status/deploy_web/web/node-old"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("removed haul/seen/node-old"), std::string::npos) << r.out;
  const json left = rows({"--consul", consul.address()});
  ASSERT_EQ(left.size(), 1u) << left.dump();
  EXPECT_EQ(left[0]["node"], "node-a");
}

// Two applications share one Consul and both call their pipeline `web`:
// each agent's status lives under its own namespace (derived from its
// event, or the config's namespace:), and nobody is compared across them.
TEST_F(FleetStatus, TwoApplicationsWithAPipelineOfTheSameNameAreNotCompared) {
  const fs::path shop = config("shop.yaml", "deploy_shop_web", "shop-1", "namespace: shop\n");
  const fs::path blog = config("blog.yaml", "deploy_blog_web", "blog-1");
  const size_t s = start_agent(shop), b = start_agent(blog);
  consul.fire("deploy_shop_web", publish("shop-r7", tmp / "shop"));
  consul.fire("deploy_blog_web", publish("blog-r2", tmp / "blog"));
  ASSERT_TRUE(logged(s, "status written to Consul KV haul/status/shop/web/shop-1")) << read_file(log(s));
  ASSERT_TRUE(logged(b, "status written to Consul KV haul/status/deploy_blog_web/web/blog-1")) << read_file(log(b));

  ProcessResult all = status({"--consul", consul.address()});
  EXPECT_EQ(all.exit_code, 0) << "each runs its own newest release: " << all.out << all.err;
  EXPECT_NE(all.out.find("shop/web"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("deploy_blog_web/web"), std::string::npos) << all.out;
  EXPECT_EQ(all.out.find("not running their pipeline's newest"), std::string::npos) << all.out;

  json only = rows({"--config", shop.string()});
  ASSERT_EQ(only.size(), 1u) << "--config limits the table to its own pipelines: " << only.dump();
  EXPECT_EQ(only[0]["node"], "shop-1");
  only = rows({"--consul", consul.address(), "--namespace", "deploy_blog_web"});
  ASSERT_EQ(only.size(), 1u) << only.dump();
  EXPECT_EQ(only[0]["node"], "blog-1");

  // --desired compares one pipeline: with two `web`s it needs the namespace.
  ProcessResult r = status({"--consul", consul.address(), "--desired", file_url(tmp / "latest.yml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--desired compares the nodes of one pipeline"), std::string::npos) << r.err;
  r = status({"--consul", consul.address(), "--namespace", "nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no node reported namespace 'nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pipelines reporting: deploy_blog_web/web, shop/web"), std::string::npos) << r.err;
}

// A Consul that accepts the connection and never answers: status gives up
// after --timeout, saying where and how long, instead of hanging.
TEST_F(FleetStatus, AStalledConsulFailsWithinTheTimeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 16), 0);  // the kernel completes connections; nothing ever reads them
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string stalled = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  ProcessResult r = status({"--consul", stalled, "--timeout", "1s"});
  ProcessResult rollout = run_process({haul_binary().string(), "rollout", "status", "--pipeline", "web", "--consul", stalled,
                                       "--timeout", "1s"});
  ::close(fd);
  EXPECT_EQ(rollout.exit_code, 2) << "a failure, not a halted rollout (1): " << rollout.out << rollout.err;
  EXPECT_NE(rollout.err.find("the rollouts' store (consul-rollout) did not answer within 1s"), std::string::npos)
      << rollout.err;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.err.find("Consul at " + stalled + " did not answer GET /v1/kv/haul/heartbeat/?recurse within 1s"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--timeout D waits longer"), std::string::npos) << r.err;
}

// etcd with password auth: `haul status --etcd` takes a user, and
// `haul status --config` on a config whose fleet lives in etcd reads etcd —
// with the config's own user — instead of Consul on 127.0.0.1:8500.
TEST(FleetStatusEtcd, PasswordAuthFromFlagsOrTheConfig) {
  TempDir tmp;
  EtcdCluster etcd(1);
  const std::string e = etcd.endpoint(0);
  ASSERT_EQ(run_process({"/usr/bin/etcdctl", "--endpoints", e, "user", "add", "root:s3cret", "--interactive=false"}).exit_code, 0);
  ASSERT_EQ(run_process({"/usr/bin/etcdctl", "--endpoints", e, "user", "grant-role", "root", "root"}).exit_code, 0);
  ASSERT_EQ(run_process({"/usr/bin/etcdctl", "--endpoints", e, "auth", "enable"}).exit_code, 0);
  const json doc = {{"schema", 2},         {"namespace", "shop"},     {"node", "n1"},       {"pipeline", "web"},
                    {"running_release", "r1"}, {"release", "r1"},     {"result", "success"}, {"heartbeat", false},
                    {"running_since_unix_ms", now_ms()}, {"finished_at_unix_ms", now_ms()}};
  ASSERT_EQ(run_process({"/usr/bin/etcdctl", "--endpoints", e, "--user", "root:s3cret", "put", "haul/status/shop/web/n1",
                         doc.dump()})
                .exit_code,
            0);
  ProcessOptions o;
  o.unset_env = {"ETCDCTL_USER", "ETCDCTL_PASSWORD", "ETCD_PASSWORD", "CONSUL_HTTP_ADDR"};
  ProcessResult r = run_process({haul_binary().string(), "status", "--etcd", e}, o);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("etcd at " + e), std::string::npos) << r.err;
  r = run_process({haul_binary().string(), "status", "--etcd", e, "--etcd-user", "root:s3cret"}, o);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("r1 (for"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("n1    -"), std::string::npos) << "no heartbeat kept (a handler): alive unknown, not NO: " << r.out;

  write_file(tmp / "haul.yaml", "namespace: shop\netcd: { endpoints: [" + e + "], user: root, password: s3cret }\n"
                                "pipelines:\n  web:\n    trigger: { type: etcd-watch, key: haul/deploy/deploy_web }\n"
                                "    hooks: [shell, etcd-status]\n");
  r = run_process({haul_binary().string(), "status", "--config", (tmp / "haul.yaml").string(), "--json"}, o);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const json rows = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(rows.is_array()) << r.out << r.err;
  ASSERT_EQ(rows.size(), 1u) << r.out;
  EXPECT_EQ(rows[0]["node"], "n1");
  EXPECT_EQ(r.err.find("127.0.0.1:8500"), std::string::npos) << r.err;
}
