// SPDX-License-Identifier: Apache-2.0
// Fleet-safe rollouts with no deploy server: a fleet of real `haul agent`
// processes on loopback (distinct HAUL_NODE names and dests) coordinating
// through each engine — the Consul double, and a real 3-member etcd cluster
// (the events come from the Consul double either way) — with the same
// assertions: canary then batches, a failure halting the release
// everywhere, on_halt: rollback, a killed slot holder, the operator's
// `haul rollout`, the consul watch handler at the same gate; and the
// engine's own faults: Consul restarting empty, an etcd member dying.
//
// Every node reads the same manifest; its dest is /proc/self/cwd/www, so
// each agent (started in its own folder) deploys into a dest of its own.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

#include "test_support.hpp"

using namespace haul::test;

namespace {

struct Interval {
  std::string node;
  long long start = 0, end = 0;
};

class Fleet : public ::testing::Test {
 protected:
  explicit Fleet(const std::string& engine) : etcd(engine == "etcd" ? std::make_unique<EtcdCluster>(3) : nullptr) {}

  TempDir tmp;
  ConsulDouble consul;
  std::unique_ptr<EtcdCluster> etcd;  // null: the gate is Consul's

  // The gate's settings for this engine.
  std::string engine() const {
    if (etcd_alone) return ", via: etcd";
    return etcd ? ", via: etcd, endpoints: [" + endpoint_list() + "]" : "";
  }
  std::string short_ttl() const { return etcd ? "lease_ttl: 5s" : "session_ttl: 10s"; }
  fs::path slots = tmp / "slots.log";  // "<node> start|end <ns>": from pre to post, inside the slot
  std::vector<std::unique_ptr<BackgroundProcess>> agents;

  std::string node(int i) const { return "node-" + std::string(i < 10 ? "0" : "") + std::to_string(i); }
  fs::path home(int i) const { return tmp / node(i); }
  fs::path log(int i) const { return tmp / (node(i) + ".log"); }

  // A release; `post` runs after the slot's bookkeeping in the post phase.
  std::string publish(const std::string& name, const std::string& post = "true") {
    const std::string tar = make_tar({file_entry("index.html", name)});
    write_file(tmp / (name + ".tgz"), tar);
    const std::string record = "echo \"$HAUL_NODE %s $(date +%s%N)\" >> " + slots.string();
    auto at = [&](const char* what) {
      std::string r = record;
      r.replace(r.find("%s"), 2, what);
      return r;
    };
    write_file(tmp / (name + ".yml"),
               "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                   "\ndest: /proc/self/cwd/www\nrelease: " + name + "\nsync_strategy: release\ncommands:\n  pre: ['" +
                   at("start") + "']\n  post: ['sleep 0.2; " + at("end") + "', '" + post + "']\n");
    return file_url(tmp / (name + ".yml"));
  }

  // Every node's config is the same but for its state_dir (exactly-once
  // records are per host).
  // Where events come from: the Consul double, or (etcd_alone) etcd itself.
  bool etcd_alone = false;
  std::string trigger() const {
    if (!etcd_alone) return "{ type: consul-http, address: '" + consul.address() + "', event: deploy_web, wait: 10s, min_interval: 50ms }";
    return "{ type: etcd-watch, key: haul/deploy/deploy_web }";  // the etcd: block's connection
  }
  std::string endpoint_list() const {
    std::string list;
    for (const auto& e : etcd->endpoints()) list += (list.empty() ? "" : ", ") + e;
    return list;
  }
  void fire(const std::string& url) {
    if (!etcd_alone) {
      consul.fire("deploy_web", url);
      return;
    }
    ProcessResult r = run_process({haul_binary().string(), "kick", url, "--name", "deploy_web", "--via", "etcd",
                                   "--config", (tmp / "haul-node-01.yaml").string()});  // its etcd: block
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  fs::path config(const std::string& rollout, int i = 1) {
    const fs::path f = tmp / ("haul-" + node(i) + ".yaml");
    const std::string top = etcd_alone ? "etcd: { endpoints: [" + endpoint_list() + "] }\n" : "";
    write_file(f, top + "state_dir: " + (home(i) / "state").string() + "\npipelines:\n  web:\n    trigger: " + trigger() +
                      "\n    hooks: [shell]\n    rollout: { " + rollout + engine() + " }\n");
    return f;
  }

  void start(int i) {
    fs::create_directories(home(i));
    const std::string cmd = "cd '" + home(i).string() + "' && exec '" + haul_binary().string() +
                            "' agent --config '" + (tmp / ("haul-" + node(i) + ".yaml")).string() + "'";
    agents[i - 1] = std::make_unique<BackgroundProcess>(std::vector<std::string>{"/bin/sh", "-c", cmd}, log(i),
                                                        std::map<std::string, std::string>{{"HAUL_NODE", node(i)}});
  }

  void start_fleet(int n, const std::string& rollout) {
    for (int i = 1; i <= n; ++i) config(rollout, i);
    agents.resize(n);
    for (int i = 1; i <= n; ++i) start(i);
    for (int i = 1; i <= n; ++i)
      ASSERT_TRUE(wait_until([&] { return file_contains(log(i), etcd_alone ? "watching etcd key" : "watching Consul event"); }))
          << read_file(log(i));
  }

  std::string current(int i) const {
    std::error_code ec;
    return fs::read_symlink(home(i) / "www/current", ec).filename().string();
  }

  int on(const std::string& release) const {
    int n = 0;
    for (size_t i = 1; i <= agents.size(); ++i) n += current(static_cast<int>(i)) == release;
    return n;
  }

  int logged(const std::string& text) const {
    int n = 0;
    for (size_t i = 1; i <= agents.size(); ++i) n += file_contains(log(static_cast<int>(i)), text);
    return n;
  }

  std::string logs() const {
    std::string all;
    for (size_t i = 1; i <= agents.size(); ++i) all += "---- " + node(static_cast<int>(i)) + "\n" + read_file(log(static_cast<int>(i)));
    return all;
  }

  void deploy_everywhere(const std::string& release) {
    fire(publish(release));
    ASSERT_TRUE(wait_until([&] { return on(release) == static_cast<int>(agents.size()); }, std::chrono::seconds(60)))
        << logs();
  }

  std::vector<Interval> intervals() const {
    std::map<std::string, Interval> open;
    std::vector<Interval> done;
    std::istringstream in(fs::exists(slots) ? read_file(slots) : "");
    std::string who, what;
    long long ns;
    while (in >> who >> what >> ns) {
      if (what == "start") open[who] = {who, ns, 0};
      else if (open.count(who)) {
        open[who].end = ns;
        done.push_back(open[who]);
        open.erase(who);
      }
    }
    return done;
  }

  static size_t max_overlap(const std::vector<Interval>& all) {
    std::vector<std::pair<long long, int>> edges;
    for (const auto& i : all) {
      edges.push_back({i.start, 1});
      edges.push_back({i.end, -1});
    }
    std::sort(edges.begin(), edges.end());  // an end sorts before a start at the same instant
    size_t now = 0, most = 0;
    for (const auto& [t, d] : edges) {
      now = static_cast<size_t>(static_cast<long long>(now) + d);
      most = std::max(most, now);
    }
    return most;
  }

  ProcessResult rollout_command(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {haul_binary().string(), "rollout"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--config", (tmp / "haul-node-01.yaml").string()});
    return run_process(argv);
  }
};

// Every assertion on both engines.
class Rollout : public Fleet, public ::testing::WithParamInterface<std::string> {
 protected:
  Rollout() : Fleet(GetParam()) {}
};

// Each engine's own faults.
class ConsulRollout : public Fleet {
 protected:
  ConsulRollout() : Fleet("consul") {}
};
class EtcdRollout : public Fleet {
 protected:
  EtcdRollout() : Fleet("etcd") {}
};

// No Consul at all: events through etcd-watch (haul kick --via etcd), the
// gate on etcd.
class EtcdAlone : public Fleet {
 protected:
  EtcdAlone() : Fleet("etcd") { etcd_alone = true; }
};

}  // namespace

TEST_P(Rollout, TheCanaryGoesAloneThenNeverMoreThanMaxParallelAtOnce) {
  start_fleet(12, "canary: 1, max_parallel: 3");
  deploy_everywhere("v1");
  ASSERT_TRUE(wait_until([&] { return intervals().size() == 12; })) << read_file(slots);  // the last posts end
  const auto all = intervals();
  EXPECT_LE(max_overlap(all), 3u) << read_file(slots);
  const auto canary = *std::min_element(all.begin(), all.end(), [](auto& a, auto& b) { return a.start < b.start; });
  for (const auto& i : all) {
    if (i.node != canary.node) {
      EXPECT_GT(i.start, canary.end) << i.node << " started while the canary deployed";
    }
  }
  EXPECT_EQ(logged("slot taken as a canary"), 1) << logs();
}

TEST_P(Rollout, AFailingCanaryHaltsTheReleaseAndTheFleetStaysThenDeploysTheNext) {
  start_fleet(12, "canary: 1, max_parallel: 3, max_failures: 1");
  deploy_everywhere("v1");
  const fs::path ran = tmp / "ran-v2.log";
  consul.fire("deploy_web", publish("v2", "echo $HAUL_NODE >> " + ran.string() + "; exit 1"));
  ASSERT_TRUE(wait_until([&] { return logged("is halted fleet-wide") == 11; }, std::chrono::seconds(60))) << logs();
  EXPECT_EQ(count_lines(ran), 1u) << "exactly one node ever ran the bad release";
  EXPECT_EQ(on("v1"), 12) << "the canary rolled itself back; the others never switched";

  // The operator sees why, and where.
  ProcessResult status = rollout_command({"status"});
  EXPECT_EQ(status.exit_code, 1) << status.out << status.err;
  EXPECT_NE(status.out.find("release v2: halted"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("1 node failed"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("0 done, 0 deploying, 0 waiting, 1 failed, 11 held back"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("12 done, 0 deploying, 0 waiting, 0 failed, 0 held back"), std::string::npos)
      << "v1's rollout is listed too: " << status.out;

  // haul status shows the newest rollout beside the nodes, and needs attention.
  ProcessResult fleet = run_process({haul_binary().string(), "status", "--config", (tmp / "haul-node-01.yaml").string()});
  EXPECT_EQ(fleet.exit_code, 1) << fleet.out << fleet.err;
  EXPECT_NE(fleet.out.find("pipeline web, release v2: halted"), std::string::npos) << fleet.out;
  EXPECT_EQ(fleet.out.find("release v1:"), std::string::npos) << "only the newest rollout: " << fleet.out;

  // The hint runs as printed, pasted into a shell.
  const size_t hint = status.out.find("(haul rollout resume ");
  ASSERT_NE(hint, std::string::npos) << status.out;
  const std::string command = status.out.substr(hint + 1, status.out.find(" lets it go on)", hint) - hint - 1);
  ProcessResult pasted = run_process({"/bin/sh", "-c", "PATH=" + haul_binary().parent_path().string() + ":$PATH; " + command});
  EXPECT_EQ(pasted.exit_code, 0) << command << "\n" << pasted.out << pasted.err;
  EXPECT_NE(pasted.out.find("resumed the rollout of release v2 (pipeline web)"), std::string::npos) << pasted.out;
  // And without the config, where the rollouts live is all it needs.
  ProcessResult bare = run_process(etcd ? std::vector<std::string>{haul_binary().string(), "rollout", "status",
                                                                   "--pipeline", "web", "--etcd", endpoint_list()}
                                        : std::vector<std::string>{haul_binary().string(), "rollout", "status",
                                                                   "--pipeline", "web", "--consul", consul.address()});
  EXPECT_EQ(bare.exit_code, 0) << bare.out << bare.err;
  EXPECT_NE(bare.out.find("pipeline web, release v2: held"), std::string::npos) << bare.out;

  // The next release goes out normally.
  deploy_everywhere("v3");
  EXPECT_EQ(count_lines(ran), 1u);
}

TEST_P(Rollout, OnHaltRollbackBringsTheNodesThatSwitchedBack) {
  start_fleet(12, "canary: 1, max_parallel: 1, on_halt: rollback");
  deploy_everywhere("v1");
  // v2 fails on the third node to run it: two nodes switched before.
  const fs::path count = tmp / "v2-runs";
  const std::string third_fails = "flock " + count.string() + ".lock sh -c \"echo $HAUL_NODE >> " + count.string() +
                                  "; test \\$(wc -l < " + count.string() + ") -ne 3\"";
  consul.fire("deploy_web", publish("v2", third_fails));
  ASSERT_TRUE(wait_until([&] { return logged("is halted fleet-wide") == 9; }, std::chrono::seconds(60))) << logs();
  ASSERT_TRUE(wait_until([&] { return on("v1") == 12; }, std::chrono::seconds(30))) << logs();
  EXPECT_EQ(count_lines(count), 3u);
  EXPECT_EQ(logged("was halted fleet-wide (on_halt: rollback): rolling"), 2) << logs();
}

TEST_P(Rollout, AKilledSlotHolderFreesItsSlotAndTheRolloutGoesOn) {
  start_fleet(4, "canary: 1, max_parallel: 1, " + short_ttl());
  const fs::path holder = tmp / "holder";
  // The first node to reach post holds its slot (sleeps) until killed.
  consul.fire("deploy_web", publish("v1", "mkdir " + holder.string() + " 2>/dev/null && { echo $HAUL_NODE > " +
                                              holder.string() + "/node; sleep 300; }; true"));
  ASSERT_TRUE(wait_until([&] { return fs::exists(holder / "node"); }, std::chrono::seconds(30))) << logs();
  const int v = std::stoi(read_file(holder / "node").substr(5));  // "node-0N\n"
  ::kill(agents[v - 1]->pid(), SIGKILL);
  agents[v - 1]->wait_exit(std::chrono::seconds(10));
  // Its session lapses within twice its TTL; then the others go on.
  // (The victim itself switched before its post hung: count the others.)
  auto others_on_v1 = [&] {
    int n = 0;
    for (int i = 1; i <= 4; ++i) n += i != v && current(i) == "v1";
    return n;
  };
  EXPECT_EQ(others_on_v1(), 0) << "nobody passed the hung slot holder";
  ASSERT_TRUE(wait_until([&] { return others_on_v1() == 3; }, std::chrono::seconds(60))) << logs();
  EXPECT_EQ(logged("slot taken as a canary"), 2) << "the canary place went to the next node: " << logs();
  // Back, it deploys the event it never finished (current already points at
  // v1: it was killed in post), and ends the sleep its killed run left.
  start(v);
  ASSERT_TRUE(wait_until([&] { return file_contains(log(v), "deploy of"); }, std::chrono::seconds(60))) << logs();
}

TEST_F(ConsulRollout, RestartingWithoutItsDataMidRolloutFailsNoDeploy) {
  start_fleet(3, "canary: 1, canary_soak: 3s, max_parallel: 1");
  consul.fire("deploy_web", publish("v1"));
  ASSERT_TRUE(wait_until([&] { return logged("waiting for the canary soak") == 2; }, std::chrono::seconds(30))) << logs();
  consul.stop();
  ASSERT_TRUE(wait_until([&] { return logged("the rollout gate keeps trying") >= 1; }, std::chrono::seconds(30))) << logs();
  consul.start();  // empty, as a dev agent restarted: the waiting nodes start the rollout's ledger again
  ASSERT_TRUE(wait_until([&] { return on("v1") == 3; }, std::chrono::seconds(60))) << logs();
  EXPECT_EQ(logged("failed in"), 0) << logs();
  EXPECT_GE(logged("Consul answers again"), 1) << logs();
}

TEST_P(Rollout, AnOperatorHaltsAndResumesARollout) {
  start_fleet(3, "canary: 1, canary_soak: 1h, max_parallel: 2");
  consul.fire("deploy_web", publish("v1"));
  ASSERT_TRUE(wait_until([&] { return logged("waiting for the canary soak") == 2; }, std::chrono::seconds(30))) << logs();
  ProcessResult halt = rollout_command({"halt", "--reason", "error rate up on the canary"});
  ASSERT_EQ(halt.exit_code, 0) << halt.out << halt.err;
  EXPECT_NE(halt.out.find("halted the rollout of release v1"), std::string::npos) << halt.out;
  ASSERT_TRUE(wait_until([&] { return logged("is halted fleet-wide") == 2; }, std::chrono::seconds(30))) << logs();
  EXPECT_EQ(on("v1"), 1) << "only the canary";
  ProcessResult status = rollout_command({"status", "--json"});
  EXPECT_NE(status.out.find("error rate up on the canary"), std::string::npos) << status.out;
  ProcessResult resume = rollout_command({"resume", "--release", "v1"});
  EXPECT_EQ(resume.exit_code, 0) << resume.out << resume.err;
  EXPECT_NE(resume.out.find("release v1: soaking"), std::string::npos) << "the canary's soak goes on: " << resume.out;
  ProcessResult unknown = rollout_command({"resume", "--release", "v9"});
  EXPECT_EQ(unknown.exit_code, 2) << "a failure of the command, not a halted rollout (1)";
  EXPECT_NE(unknown.err.find("no rollout of release 'v9' for pipeline web"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("known: v1"), std::string::npos) << unknown.err;
}

// An operator halts during the canary's soak and resumes after the soak
// would have ended; the event is fired again. The soak starts again at the
// resume (the release is watched for a whole soak on a fleet that is not
// halted), the old canary does not take a second canary slot, and never
// more than max_parallel nodes are between pre and post — across halt,
// resume and re-fire.
TEST_P(Rollout, AResumeAfterAHaltDuringTheSoakKeepsTheSoakAndMaxParallel) {
  start_fleet(3, "canary: 1, canary_soak: 2s, max_parallel: 1");
  const std::string url = publish("v1");
  fire(url);
  ASSERT_TRUE(wait_until([&] { return logged("waiting for the canary soak") == 2; }, std::chrono::seconds(30))) << logs();
  ASSERT_EQ(rollout_command({"halt", "--reason", "looking"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return logged("is halted fleet-wide") == 2; }, std::chrono::seconds(30))) << logs();
  const auto canary = intervals();
  ASSERT_EQ(canary.size(), 1u) << read_file(slots);
  auto now_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  const long long soak_ns = 2'000'000'000LL;
  // The old soak window passes while the rollout is halted.
  ASSERT_TRUE(wait_until([&] { return now_ns() > canary[0].end + soak_ns; }, std::chrono::seconds(10)));
  const long long resumed_at = now_ns();
  ProcessResult resume = rollout_command({"resume"});
  ASSERT_EQ(resume.exit_code, 0) << resume.out << resume.err;
  EXPECT_NE(resume.out.find("release v1: soaking (2s of the canary soak left)"), std::string::npos) << resume.out;
  fire(url);  // the nodes held back get it again; so does the canary
  // The canary runs v1 already: its deploy finds it live and passes no gate.
  ASSERT_TRUE(wait_until([&] { return on("v1") == 3 && intervals().size() == 3; }, std::chrono::seconds(60)))
      << logs() << read_file(slots);
  const auto all = intervals();
  EXPECT_LE(max_overlap(all), 1u) << read_file(slots);
  for (const auto& i : all)
    if (i.start > canary[0].end) EXPECT_GE(i.start, resumed_at + soak_ns) << i.node << " began inside the restarted soak";
  EXPECT_EQ(logged("slot taken as a canary"), 1) << "one canary slot in all: " << logs();
  // The last node leaves the gate after its post.
  EXPECT_TRUE(wait_until([&] { return rollout_command({"status"}).out.find("release v1: done") != std::string::npos; }))
      << rollout_command({"status"}).out;
}

TEST_P(Rollout, TheConsulWatchHandlerWaitsAtTheSameGate) {
  const std::string url = publish("v1");
  const std::string event = "[{\"ID\":\"e1\",\"Name\":\"deploy_web\",\"Payload\":\"" + base64_of(url) +
                            "\",\"LTime\":1}]";
  agents.resize(3);
  std::vector<std::unique_ptr<BackgroundProcess>> handlers;
  for (int i = 1; i <= 3; ++i) {
    fs::create_directories(home(i));
    write_file(home(i) / "event.json", event);
    const std::string cmd = "cd '" + home(i).string() + "' && exec '" + haul_binary().string() + "' --config '" +
                            config("canary: 1, max_parallel: 1", i).string() + "' < event.json";
    handlers.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{"/bin/sh", "-c", cmd}, log(i),
        std::map<std::string, std::string>{{"HAUL_NODE", node(i)}, {"CONSUL_HTTP_ADDR", consul.address()}}));
  }
  for (auto& h : handlers) EXPECT_EQ(h->wait_exit(std::chrono::seconds(60)), 0) << logs();
  EXPECT_EQ(on("v1"), 3) << logs();
  const auto all = intervals();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(max_overlap(all), 1u) << read_file(slots);
}

// An operator restarting an agent mid-deploy (SIGTERM twice: abort) is not
// a failure of the release: nothing halts, and the slot goes on.
TEST_F(ConsulRollout, AnAgentAbortedMidDeployIsNotAFailureOfTheRelease) {
  start_fleet(2, "canary: 1, max_parallel: 1, max_failures: 1");
  const fs::path holder = tmp / "holder";
  fire(publish("v1", "mkdir " + holder.string() + " 2>/dev/null && { echo $HAUL_NODE > " + holder.string() +
                         "/node; sleep 300; }; true"));
  ASSERT_TRUE(wait_until([&] { return fs::exists(holder / "node"); }, std::chrono::seconds(30))) << logs();
  const int v = std::stoi(read_file(holder / "node").substr(5));
  ::kill(agents[v - 1]->pid(), SIGTERM);
  ASSERT_TRUE(wait_until([&] { return file_contains(log(v), "finishing the deploy in progress"); })) << logs();
  ::kill(agents[v - 1]->pid(), SIGTERM);
  ASSERT_TRUE(agents[v - 1]->wait_exit(std::chrono::seconds(30)).has_value()) << logs();
  EXPECT_TRUE(file_contains(log(v), "leaves the rollout of v1 without an outcome (not a failure)")) << logs();
  EXPECT_TRUE(file_contains(log(v), "agent stopped after 1 deploy(s): 0 failed, 1 cut short by the shutdown")) << logs();
  const int other = v == 1 ? 2 : 1;
  ASSERT_TRUE(wait_until([&] { return current(other) == "v1"; }, std::chrono::seconds(60))) << logs();
  EXPECT_EQ(logged("halted"), 0) << logs();
}

TEST_F(EtcdRollout, AMemberDyingMidRolloutLosesNoSlotAndAppliesNothingTwice) {
  start_fleet(6, "canary: 1, max_parallel: 2");
  consul.fire("deploy_web", publish("v1", "sleep 0.3"));
  ASSERT_TRUE(wait_until([&] { return on("v1") >= 2; }, std::chrono::seconds(60))) << logs();
  etcd->stop(0);  // the endpoint every node tries first
  ASSERT_TRUE(wait_until([&] { return on("v1") == 6; }, std::chrono::seconds(60))) << logs();
  ASSERT_TRUE(wait_until([&] { return intervals().size() == 6; })) << read_file(slots);
  EXPECT_LE(max_overlap(intervals()), 2u) << read_file(slots);
  EXPECT_EQ(count_lines(slots), 12u) << "each node deployed once: " << read_file(slots);
  EXPECT_EQ(logged("failed in"), 0) << logs();
  etcd->start(0);
  ASSERT_TRUE(wait_until([&] { return etcd->healthy(0); }, std::chrono::seconds(30)));
  deploy_everywhere("v2");  // and the cluster, whole again, serves the next rollout
}

TEST_F(EtcdAlone, AFleetRollsOutThroughEtcdOnly) {
  consul.stop();  // nothing may depend on it
  start_fleet(6, "canary: 1, max_parallel: 2");
  fire(publish("v1"));
  ASSERT_TRUE(wait_until([&] { return on("v1") == 6; }, std::chrono::seconds(60))) << logs();
  ASSERT_TRUE(wait_until([&] { return intervals().size() == 6; })) << read_file(slots);
  EXPECT_LE(max_overlap(intervals()), 2u) << read_file(slots);
  EXPECT_EQ(logged("slot taken as a canary"), 1) << logs();
  fire(publish("v2", "exit 1"));  // a bad release halts on the canary
  ASSERT_TRUE(wait_until([&] { return logged("is halted fleet-wide") == 5; }, std::chrono::seconds(60))) << logs();
  EXPECT_EQ(on("v1"), 6);
}

INSTANTIATE_TEST_SUITE_P(Engines, Rollout, ::testing::Values("consul", "etcd"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(RolloutConfig, MistakesAreNamedWithTheirPlace) {
  TempDir tmp;
  auto check = [&](const std::string& rollout, const std::string& expected) {
    write_file(tmp / "haul.yaml", "pipelines:\n  web:\n    trigger: consul-watch\n    rollout: { " + rollout + " }\n");
    ProcessOptions o;
    o.timeout = std::chrono::seconds(20);
    ProcessResult r = run_process({haul_binary().string(), "agent", "--config", (tmp / "haul.yaml").string()}, o);
    EXPECT_NE(r.exit_code, 0) << rollout;
    EXPECT_NE(r.err.find(expected), std::string::npos) << rollout << "\n" << r.err;
  };
  check("max_parallel: 0", "pipelines.web.rollout.max_parallel: expected a number of nodes (3) or a share");
  check("max_parallel: 150%", "got '150%'");
  check("on_halt: rolback", "pipelines.web.rollout.on_halt: expected rollback or stay, got 'rolback'");
  check("canary_soak: soon", "pipelines.web.rollout.canary_soak: expected a duration");
  check("max_failures: 0", "pipelines.web.rollout.max_failures: expected a whole number of nodes of at least 1");
  check("canary: 1, adress: x", "unknown key 'adress'");
  check("via: zookeeper", "no gate plugin named 'zookeeper-rollout'");
  check("session_ttl: 2s", "session_ttl must be between 10s and 24h");
  check("via: etcd, lease_ttl: 1s", "lease_ttl must be between 2s and 24h");
  check("via: etcd, endpoint: x", "unknown key 'endpoint'");
}
