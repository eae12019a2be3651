// SPDX-License-Identifier: Apache-2.0
// The etcd-watch trigger and `haul kick --via etcd` against a real 3-member
// etcd cluster: a kick deploys once, never twice across agent restarts; the
// watch goes on when the member it streams from dies, and after the history
// it would resume from was compacted; nothing is applied twice or lost.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

#include "test_support.hpp"

using namespace haul::test;

namespace {

class EtcdTrigger : public ::testing::Test {
 protected:
  TempDir tmp;
  EtcdCluster etcd{3};
  fs::path deploys = tmp / "deploys.log";  // one line per deploy: the event ID
  std::unique_ptr<BackgroundProcess> agent;
  int runs = 0;

  std::string endpoints(const char* sep) const {
    std::string out;
    for (const auto& e : etcd.endpoints()) out += (out.empty() ? "" : sep) + e;
    return out;
  }

  std::string publish(const std::string& name) {
    const std::string tar = make_tar({file_entry("index.html", name)});
    write_file(tmp / (name + ".tgz"), tar);
    write_file(tmp / (name + ".yml"), "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                          "\ndest: " + (tmp / "www").string() +
                                          "\ncommands:\n  post: ['echo $HAUL_EVENT_ID >> " + deploys.string() + "']\n");
    return file_url(tmp / (name + ".yml"));
  }

  fs::path log() const { return tmp / ("agent-" + std::to_string(runs) + ".log"); }

  std::string auth;  // "user: root, password: pw" once the cluster requires it

  void start_agent(const std::string& hooks = "[shell]") {
    write_file(tmp / "haul.yaml", (auth.empty() ? "" : "etcd: { " + auth + " }\n") + "state_dir: " + (tmp / "state").string() +
                                      "\npipelines:\n  web:\n    trigger: { type: etcd-watch, key: haul/deploy/deploy_web,"
                                      " endpoints: [" + endpoints(", ") + "], max_backoff: 1s }\n    hooks: " + hooks + "\n");
    ++runs;
    agent = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{haul_binary().string(), "agent", "--config", (tmp / "haul.yaml").string()}, log());
    ASSERT_TRUE(wait_until([&] { return file_contains(log(), "watching etcd key 'haul/deploy/deploy_web'"); }))
        << read_file(log());
  }

  std::string kick(const std::string& url, const std::string& password = "") {
    std::vector<std::string> argv = {haul_binary().string(), "kick", url, "--name", "deploy_web", "--via", "etcd",
                                     "--etcd-endpoints", endpoints(",")};
    ProcessOptions o;
    if (!password.empty()) {
      argv.insert(argv.end(), {"--etcd-user", "root"});
      o.env["ETCD_PASSWORD"] = password;
    }
    ProcessResult r = run_process(argv, o);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const size_t at = r.err.find("(event haul/deploy/deploy_web@");
    return at == std::string::npos ? "" : r.err.substr(at + 7, r.err.find(')', at) - at - 7);
  }

  std::vector<std::string> deployed() {
    std::vector<std::string> out;
    std::istringstream in(fs::exists(deploys) ? read_file(deploys) : "");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  int64_t revision() {
    const HttpResult r = http_request("POST", etcd.endpoint(1) + "/v3/kv/range", R"({"key":"eA=="})");
    return std::stoll(nlohmann::json::parse(r.body)["header"]["revision"].get<std::string>());
  }
};

}  // namespace

TEST_F(EtcdTrigger, AKickDeploysOnceAndNeverTwiceAcrossRestarts) {
  start_agent();
  const std::string url = publish("v1");
  const std::string e1 = kick(url);
  ASSERT_FALSE(e1.empty());
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 1; })) << read_file(log());
  EXPECT_EQ(deployed(), std::vector<std::string>{"etcd:" + e1});
  EXPECT_EQ(read_file(tmp / "www/index.html"), "v1");
  agent.reset();

  start_agent();  // the key still holds v1's URL at the same revision: not applied again
  ASSERT_TRUE(wait_until([&] { return file_contains(log(), "was already applied; not deploying it again"); }))
      << read_file(log());
  const std::string e2 = kick(url);  // the same URL written again is a deliberate redeploy
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 2; })) << read_file(log());
  EXPECT_EQ(deployed(), (std::vector<std::string>{"etcd:" + e1, "etcd:" + e2}));
}

TEST_F(EtcdTrigger, TheWatchGoesOnThroughAMemberDeathAndACompaction) {
  start_agent();
  kick(publish("v1"));
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 1; })) << read_file(log());

  etcd.stop(0);  // the member the watch streams from
  kick(publish("v2"));
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 2; }, std::chrono::seconds(30))) << read_file(log());
  EXPECT_EQ(read_file(tmp / "www/index.html"), "v2");
  etcd.start(0);
  ASSERT_TRUE(wait_until([&] { return etcd.healthy(0); }, std::chrono::seconds(30)));

  // History compacted past everything the watch has seen: it reads again.
  for (int i = 0; i < 5; ++i)
    http_request("POST", etcd.endpoint(1) + "/v3/kv/put", R"({"key":"bm9pc2U=","value":"eA=="})");
  const int64_t now = revision();
  const HttpResult c = http_request("POST", etcd.endpoint(1) + "/v3/kv/compaction",
                                    R"({"revision":")" + std::to_string(now) + R"(","physical":true})");
  ASSERT_EQ(c.status, 200) << c.body;
  kick(publish("v3"));
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 3; }, std::chrono::seconds(30))) << read_file(log());
  EXPECT_EQ(read_file(tmp / "www/index.html"), "v3");
  const auto ids = deployed();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 3u) << "nothing applied twice";
}

TEST_F(EtcdTrigger, KickRefusesAnUnreachableClusterByName) {
  ProcessResult r = run_process({haul_binary().string(), "kick", file_url(tmp / "x.yml"), "--name", "deploy_web",
                                 "--via", "etcd", "--etcd-endpoints", "http://127.0.0.1:1", "--no-check"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kick via etcd: key haul/deploy/deploy_web: no etcd endpoint answered"), std::string::npos)
      << r.err;
  r = run_process({haul_binary().string(), "kick", file_url(tmp / "x.yml"), "--name", "deploy_web", "--via", "etcdd",
                   "--no-check"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--via takes consul, serf or etcd; got 'etcdd'"), std::string::npos) << r.err;
}

TEST_F(EtcdTrigger, StatusIsWrittenToEtcdAndShownByHaulStatus) {
  start_agent("[shell, { type: etcd-status, endpoints: [" + endpoints(", ") + "], heartbeat_ttl: 3s }]");
  kick(publish("v1"));
  ASSERT_TRUE(wait_until([&] { return file_contains(log(), "status written to etcd key haul/status/deploy_web/web/"); }))
      << read_file(log());
  ProcessResult r = run_process({haul_binary().string(), "status", "--etcd", endpoints(",")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("deploy_web/web"), std::string::npos) << "the namespace is the trigger's key: " << r.out;
  r = run_process({haul_binary().string(), "status", "--etcd", endpoints(","), "--json"});
  nlohmann::json rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 1u) << r.out;
  EXPECT_EQ(rows[0]["alive"], true) << r.out;
  EXPECT_EQ(rows[0]["result"], "success") << r.out;
  agent.reset();  // a clean stop revokes the heartbeat's lease
  r = run_process({haul_binary().string(), "status", "--etcd", endpoints(","), "--json"});
  EXPECT_EQ(r.exit_code, 1) << "a node that is down needs attention: " << r.out << r.err;
  rows = nlohmann::json::parse(r.out);
  EXPECT_EQ(rows[0]["alive"], false) << r.out;
}

TEST_F(EtcdTrigger, PasswordAuthWorksAndAWrongPasswordIsNamed) {
  const std::string e = etcd.endpoint(0);
  ASSERT_EQ(run_process({"/usr/bin/etcdctl", "--endpoints", e, "user", "add", "root:s3cret", "--interactive=false"}).exit_code, 0);
  ASSERT_EQ(run_process({"/usr/bin/etcdctl", "--endpoints", e, "user", "grant-role", "root", "root"}).exit_code, 0);
  ProcessResult enable = run_process({"/usr/bin/etcdctl", "--endpoints", e, "auth", "enable"});
  ASSERT_EQ(enable.exit_code, 0) << enable.out << enable.err;
  auth = "user: root, password: s3cret";
  start_agent();
  kick(publish("v1"), "s3cret");
  ASSERT_TRUE(wait_until([&] { return count_lines(deploys) == 1; })) << read_file(log());
  EXPECT_FALSE(file_contains(log(), "s3cret")) << "never a secret in the log";

  ProcessResult bad = run_process({haul_binary().string(), "kick", publish("v2"), "--name", "deploy_web", "--via", "etcd",
                                   "--etcd-endpoints", endpoints(","), "--etcd-user", "root"},
                                  [] {
                                    ProcessOptions o;
                                    o.env["ETCD_PASSWORD"] = "wrong";
                                    return o;
                                  }());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("etcd refused user 'root'"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("authentication failed"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find("wrong"), std::string::npos) << "the password is not echoed: " << bad.err;
}

// haul publish keeps manifests and the desired-release pointer in etcd
// (source etcd); an agent converges on the pointer with no event at all.
TEST_F(EtcdTrigger, ManifestsAndTheDesiredPointerLiveInEtcd) {
  fs::create_directories(tmp / "app");
  write_file(tmp / "app/index.html", "from etcd");
  write_file(tmp / "store/.keep", "");
  write_file(tmp / "haul.yaml", "etcd: { endpoints: [" + endpoints(", ") + "] }\npipelines:\n  web:\n"
                                    "    trigger: consul-watch\n"
                                    "    desired: etcd://haul/releases/web/latest_web_production.yml\n");
  ProcessResult pack = run_process({haul_binary().string(), "pack", (tmp / "app").string(), "-o", (tmp / "app.tgz").string()});
  ASSERT_EQ(pack.exit_code, 0) << pack.err;
  ProcessResult pub = run_process({haul_binary().string(), "publish", (tmp / "app.tgz").string(), "--to",
                                   file_url(tmp / "store"), "--manifests", "etcd://haul/releases/web", "--role", "web",
                                   "--stage", "production", "--dest", (tmp / "www").string(), "--config",
                                   (tmp / "haul.yaml").string()});
  ASSERT_EQ(pub.exit_code, 0) << pub.out << pub.err;
  ProcessResult rec = run_process({haul_binary().string(), "reconcile", "--config", (tmp / "haul.yaml").string()});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  EXPECT_EQ(read_file(tmp / "www/index.html"), "from etcd");
  ProcessResult missing = run_process({haul_binary().string(), "fetch", "etcd://haul/releases/nope.yml", "--config",
                                       (tmp / "haul.yaml").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("etcd://haul/releases/nope.yml: no such key in etcd at"), std::string::npos) << missing.err;
}

// Mutual TLS: a CA, a server and a client certificate made here with the
// openssl tool; etcd requires the client's. The agent and haul kick reach it
// with the etcd: block's ca_file, cert_file and key_file.
TEST(EtcdTls, KickAndWatchOverMutualTls) {
  TempDir tmp;
  const fs::path tls = tmp / "tls";
  fs::create_directories(tls);
  // etcd 3.4's JSON gateway dials its own gRPC server with the server
  // certificate, so that one must be good for client auth too.
  write_file(tls / "server.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  write_file(tls / "client.ext", "extendedKeyUsage=clientAuth\n");
  const std::string make =
      "set -e; cd '" + tls.string() + "'; "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=haul-test-ca 2>/dev/null; "
      "for who in server client; do "
      "openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null; "
      "openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem -days 2 -extfile $who.ext "
      "2>/dev/null; done";
  ASSERT_EQ(run_process({"/bin/sh", "-c", make}).exit_code, 0);
  EtcdCluster etcd(1, tls);
  const std::string connection = "etcd: { endpoints: [" + etcd.endpoint(0) + "], ca_file: " + (tls / "ca.pem").string();
  write_file(tmp / "haul.yaml", connection + ", cert_file: " + (tls / "client.pem").string() + ", key_file: " +
                                    (tls / "client.key").string() + " }\nstate_dir: " + (tmp / "state").string() +
                                    "\npipelines:\n  web:\n    trigger: { type: etcd-watch, key: haul/deploy/deploy_web }\n");
  const std::string tar = make_tar({file_entry("index.html", "over tls")});
  write_file(tmp / "v1.tgz", tar);
  write_file(tmp / "v1.yml", "src: " + file_url(tmp / "v1.tgz") + "\nchecksum: " + sha256_hex(tar) + "\ndest: " +
                                 (tmp / "www").string() + "\n");
  BackgroundProcess agent({haul_binary().string(), "agent", "--config", (tmp / "haul.yaml").string()}, tmp / "agent.log");
  ASSERT_TRUE(wait_until([&] { return file_contains(tmp / "agent.log", "watching etcd key"); })) << read_file(tmp / "agent.log");
  ProcessResult kick = run_process({haul_binary().string(), "kick", file_url(tmp / "v1.yml"), "--name", "deploy_web",
                                    "--via", "etcd", "--config", (tmp / "haul.yaml").string()});
  ASSERT_EQ(kick.exit_code, 0) << kick.out << kick.err;
  ASSERT_TRUE(wait_until([&] { return fs::exists(tmp / "www/index.html"); })) << read_file(tmp / "agent.log");
  EXPECT_EQ(read_file(tmp / "www/index.html"), "over tls");

  // Without the client certificate etcd refuses the connection, and haul says where.
  write_file(tmp / "nocert.yaml", connection + " }\npipelines:\n  web:\n    trigger: consul-watch\n");
  ProcessResult refused = run_process({haul_binary().string(), "kick", file_url(tmp / "v1.yml"), "--name", "deploy_web",
                                       "--via", "etcd", "--config", (tmp / "nocert.yaml").string(), "--no-check"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("kick via etcd: key haul/deploy/deploy_web: no etcd endpoint answered: POST " +
                             etcd.endpoint(0) + "/v3/kv/put"),
            std::string::npos)
      << refused.err;
}
