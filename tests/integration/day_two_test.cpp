// SPDX-License-Identifier: Apache-2.0
// Day two: what an operator does to a running fleet over a normal week —
// switch from the consul watch handler to the agent, start a second agent
// by mistake, give two roles of a host one dest — and haul keeps what it
// says true and leaves done what the operator did. Real `haul` processes
// against the Consul double on 127.0.0.1.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "test_support.hpp"

using namespace haul::test;

namespace {

class DayTwo : public ::testing::Test {
 protected:
  TempDir tmp;
  ConsulDouble consul;
  fs::path dest = tmp / "www";
  fs::path posts = tmp / "posts.log";  // one line per post command run: "<release> <event id>"
  std::vector<std::unique_ptr<BackgroundProcess>> agents;

  // A release into `into`; its post command (the app restart) is recorded.
  std::string publish(const std::string& name, const fs::path& into) {
    const std::string tar = make_tar({file_entry("index.html", name)});
    write_file(tmp / (name + ".tgz"), tar);
    write_file(tmp / (name + ".yml"), "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                          "\ndest: " + into.string() + "\nrelease: " + name +
                                          "\ncommands:\n  post: ['echo " + name + " $HAUL_EVENT_ID >> " +
                                          posts.string() + "']\n");
    return file_url(tmp / (name + ".yml"));
  }
  std::string publish(const std::string& name) { return publish(name, dest); }

  std::string pipeline(const std::string& name, const std::string& event) const {
    return "  " + name + ":\n    trigger: { type: consul-http, address: '" + consul.address() + "', event: " + event +
           ", wait: 10s, min_interval: 50ms }\n    hooks: [shell]\n";
  }
  fs::path config(const std::string& pipelines, const std::string& state = "state") {
    const fs::path f = tmp / "haul.yaml";
    write_file(f, "state_dir: " + (tmp / state).string() + "\npipelines:\n" + pipelines);
    return f;
  }
  fs::path log(size_t i) const { return tmp / ("agent-" + std::to_string(i) + ".log"); }
  BackgroundProcess& start_agent(const fs::path& cfg) {
    agents.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{haul_binary().string(), "agent", "--config", cfg.string()}, log(agents.size() + 1)));
    return *agents.back();
  }
  bool logged(size_t agent, const std::string& text) {
    return wait_until([&] { return file_contains(log(agent), text); });
  }
};

}  // namespace

// stretcher's way first: consul watch runs `haul --state-dir DIR` with the
// event list on stdin. Then the operator switches the host to the agent,
// whose state_dir has never seen that event — still buffered in Consul —
// and must not deploy (and restart the app) again.
TEST_F(DayTwo, SwitchingFromTheHandlerToTheAgentRedeploysNothing) {
  const std::string url = publish("v1");
  const std::string id = consul.fire("deploy_web", url);
  const HttpResult list = http_request("GET", consul.address() + "/v1/event/list?name=deploy_web");
  ASSERT_EQ(list.status, 200);
  ProcessOptions o;
  o.stdin_text = list.body;
  o.env = {{"CONSUL_INDEX", "1"}};
  ProcessResult handler = run_process({haul_binary().string(), "--state-dir", (tmp / "handler-state").string()}, o);
  ASSERT_EQ(handler.exit_code, 0) << handler.err;
  ASSERT_EQ(count_lines(posts), 1u);

  start_agent(config(pipeline("web", "deploy_web")));
  ASSERT_TRUE(logged(1, "already runs this manifest")) << read_file(log(1));
  EXPECT_TRUE(logged(1, "is already applied; nothing deployed")) << read_file(log(1));
  EXPECT_EQ(count_lines(posts), 1u) << "the post command (the app's restart) ran again: " << read_file(posts);
  // The event is now on record: a restart skips it as applied ...
  agents.back().reset();
  start_agent(tmp / "haul.yaml");
  ASSERT_TRUE(logged(2, "event " + id + " was already applied")) << read_file(log(2));
  // ... and a new event for the same manifest is a deliberate redeploy.
  consul.fire("deploy_web", url);
  ASSERT_TRUE(wait_until([&] { return count_lines(posts) == 2; })) << read_file(log(2));
}

TEST_F(DayTwo, ASecondAgentOnTheSameStateDirIsRefusedNamingTheFirst) {
  const fs::path cfg = config(pipeline("web", "deploy_web"));
  BackgroundProcess& first = start_agent(cfg);
  ASSERT_TRUE(logged(1, "watching Consul event")) << read_file(log(1));
  ProcessResult second = run_process({haul_binary().string(), "agent", "--config", cfg.string()});
  EXPECT_EQ(second.exit_code, 2) << second.err;
  EXPECT_NE(second.err.find("another haul agent (pid " + std::to_string(first.pid()) + ") already runs with state_dir " +
                            (tmp / "state").string()),
            std::string::npos)
      << second.err;
  // One event, one deploy.
  consul.fire("deploy_web", publish("v1"));
  ASSERT_TRUE(wait_until([&] { return count_lines(posts) == 1; })) << read_file(log(1));
  // Once the first has stopped, the lock is free again (the kernel drops it).
  agents.back().reset();
  start_agent(cfg);
  ASSERT_TRUE(logged(2, "watching Consul event")) << read_file(log(2));
}

// Two roles of one host whose manifests name the same dest would flip
// `current` between their releases: the second pipeline is refused, and
// dest keeps the first one's release.
TEST_F(DayTwo, TwoPipelinesOfOneConfigMayNotShareADest) {
  start_agent(config(pipeline("web", "deploy_web") + pipeline("batch", "deploy_batch")));
  ASSERT_TRUE(logged(1, "watching Consul event 'deploy_batch'")) << read_file(log(1));
  consul.fire("deploy_web", publish("web-1"));
  ASSERT_TRUE(wait_until([&] { return count_lines(posts) == 1; })) << read_file(log(1));
  consul.fire("deploy_batch", publish("batch-1"));
  ASSERT_TRUE(logged(1, "is deployed by pipeline web of the same config")) << read_file(log(1));
  EXPECT_TRUE(file_contains(log(1), "pipeline batch may not deploy there too")) << read_file(log(1));
  EXPECT_EQ(read_file(dest / "index.html"), "web-1");
  EXPECT_EQ(count_lines(posts), 1u);
  // A dest of its own deploys.
  consul.fire("deploy_batch", publish("batch-2", tmp / "batch"));
  ASSERT_TRUE(wait_until([&] { return count_lines(posts) == 2; })) << read_file(log(1));
}

// SIGHUP out of habit: a one-shot `haul deploy` takes it as SIGTERM and says
// so — the deploy in progress finishes; a second one aborts it, and the log
// ends with what is true of dest (an rsync dest untouched here, as the
// deploy was still in pre), leaving no staging folder or journal behind.
TEST_F(DayTwo, SighupToAOneShotDeployIsASigtermNeverASilentDeath) {
  const fs::path started = tmp / "pre-started", gate = tmp / "gate";
  const std::string tar = make_tar({file_entry("index.html", "v1")});
  write_file(tmp / "v1.tgz", tar);
  write_file(tmp / "v1.yml", "src: " + file_url(tmp / "v1.tgz") + "\nchecksum: " + sha256_hex(tar) + "\ndest: " +
                                 dest.string() + "\ncommands:\n  pre: ['touch " + started.string() + "; while [ ! -f " +
                                 gate.string() + " ]; do sleep 0.05; done']\n");
  {
    BackgroundProcess run({haul_binary().string(), "deploy", file_url(tmp / "v1.yml")}, tmp / "hup1.log");
    ASSERT_TRUE(wait_until([&] { return fs::exists(started); })) << read_file(tmp / "hup1.log");
    ::kill(run.pid(), SIGHUP);
    ASSERT_TRUE(wait_until([&] { return file_contains(tmp / "hup1.log", "received SIGHUP (taken as SIGTERM"); }))
        << read_file(tmp / "hup1.log");
    EXPECT_TRUE(file_contains(tmp / "hup1.log", "finishing the deploy in progress")) << read_file(tmp / "hup1.log");
    write_file(gate, "");
    EXPECT_EQ(run.wait_exit(std::chrono::seconds(30)), std::optional<int>(0)) << read_file(tmp / "hup1.log");
    EXPECT_EQ(read_file(dest / "index.html"), "v1");
  }
  fs::remove(started);
  fs::remove(gate);
  fs::remove_all(dest);
  BackgroundProcess run({haul_binary().string(), "deploy", file_url(tmp / "v1.yml")}, tmp / "hup2.log");
  ASSERT_TRUE(wait_until([&] { return fs::exists(started); })) << read_file(tmp / "hup2.log");
  ::kill(run.pid(), SIGHUP);
  ASSERT_TRUE(wait_until([&] { return file_contains(tmp / "hup2.log", "finishing the deploy in progress"); }));
  ::kill(run.pid(), SIGHUP);
  EXPECT_EQ(run.wait_exit(std::chrono::seconds(30)), std::optional<int>(1)) << read_file(tmp / "hup2.log");
  EXPECT_TRUE(file_contains(tmp / "hup2.log", "received SIGHUP (taken as SIGTERM: only the agent reloads) again: aborting"))
      << read_file(tmp / "hup2.log");
  EXPECT_TRUE(file_contains(tmp / "hup2.log", "dest " + dest.string() + " is as it was: the deploy stopped before placing anything"))
      << read_file(tmp / "hup2.log");
  EXPECT_FALSE(fs::exists(dest / "index.html"));
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name.rfind(".haul-staging-", 0) != 0 && name.find("journal") == std::string::npos)
        << "left behind: " << e.path();
  }
}

// SIGHUP reloads the agent's config, as Consul and Nomad do: a good file
// takes effect once the deploy in progress has finished; a file with a
// mistake changes nothing and says why; neither stops the agent.
TEST_F(DayTwo, SighupReloadsAGoodConfigAndKeepsTheRunningOneOnAMistake) {
  const fs::path started = tmp / "pre-started", gate = tmp / "gate";
  const fs::path cfg = config(pipeline("web", "deploy_web"));
  BackgroundProcess& agent = start_agent(cfg);
  ASSERT_TRUE(logged(1, "watching Consul event 'deploy_web'")) << read_file(log(1));
  // A deploy is in its pre command when the signal comes.
  const std::string tar = make_tar({file_entry("index.html", "slow")});
  write_file(tmp / "slow.tgz", tar);
  write_file(tmp / "slow.yml", "src: " + file_url(tmp / "slow.tgz") + "\nchecksum: " + sha256_hex(tar) + "\ndest: " +
                                   dest.string() + "\ncommands:\n  pre: ['touch " + started.string() +
                                   "; while [ ! -f " + gate.string() + " ]; do sleep 0.05; done']\n");
  consul.fire("deploy_web", file_url(tmp / "slow.yml"));
  ASSERT_TRUE(wait_until([&] { return fs::exists(started); })) << read_file(log(1));

  config(pipeline("web", "deploy_web") + pipeline("batch", "deploy_batch"));
  ::kill(agent.pid(), SIGHUP);
  ASSERT_TRUE(logged(1, "is good; deploys in progress finish first")) << read_file(log(1));
  EXPECT_FALSE(file_contains(log(1), "config reloaded")) << "not before the deploy has finished: " << read_file(log(1));
  write_file(gate, "");
  ASSERT_TRUE(logged(1, "config reloaded: running 2 pipeline(s): web (consul-http), batch (consul-http)"))
      << read_file(log(1));
  EXPECT_EQ(read_file(dest / "index.html"), "slow") << "the deploy in progress finished";
  consul.fire("deploy_batch", publish("batch-1", tmp / "batch"));
  ASSERT_TRUE(wait_until([&] { return count_lines(posts) == 1; })) << read_file(log(1));

  // A typo: refused, with its place; the running pipelines go on.
  write_file(cfg, read_file(cfg) + "  broken:\n    triger: consul-watch\n");
  ::kill(agent.pid(), SIGHUP);
  ASSERT_TRUE(logged(1, "config reload refused, the running config stays")) << read_file(log(1));
  EXPECT_TRUE(file_contains(log(1), cfg.string() + ":")) << "names the file and line: " << read_file(log(1));
  consul.fire("deploy_web", publish("web-2"));
  ASSERT_TRUE(wait_until([&] { return count_lines(posts) == 2; })) << read_file(log(1));
  EXPECT_TRUE(agent.running());
  // Moving state_dir takes a restart.
  config(pipeline("web", "deploy_web"), "elsewhere");
  ::kill(agent.pid(), SIGHUP);
  ASSERT_TRUE(logged(1, "moving it takes a restart")) << read_file(log(1));
  EXPECT_TRUE(agent.running());
}
