// SPDX-License-Identifier: Apache-2.0
// The build side end to end, through the haul binary: publish to file://,
// s3:// (s3rver) and http(s):// PUT, deploy what was published, signatures
// and the downgrade guard, kick through the Consul double and a real Serf
// agent, and `haul release` from a project file.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "http_stub_server.hpp"
#include "test_support.hpp"

using namespace haul::test;

namespace {

ProcessResult haul_run(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), haul_binary().string());
  ProcessOptions o;
  o.env = env;
  return run_process(args, o);
}

// A tree, packed, and a key pair: what every test starts from.
struct Build {
  TempDir tmp;
  fs::path artifact = tmp / "app.tar.gz";
  fs::path key = tmp / "release.key", pub = tmp / "release.pub";
  explicit Build(const std::string& content = "v1") {
    write_file(tmp / "src/index.html", content);
    write_file(tmp / "src/bin/start", "#!/bin/sh\n", 0755);
    auto p = haul_run({"pack", (tmp / "src").string(), "-o", artifact.string()});
    EXPECT_EQ(p.exit_code, 0) << p.err;
    auto k = haul_run({"keygen", "-o", (tmp / "release").string()});
    EXPECT_EQ(k.exit_code, 0) << k.err;
  }
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    if (nl > start) out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace

TEST(Publish, TwoRolesTwoStagesRenderExactlyAndDeploy) {
  Build b;
  const fs::path store = b.tmp / "store";
  write_file(b.tmp / "hooks.yml",
             "default: &default\n  pre: [echo pre]\n  success: [echo ok]\n"
             "web:\n  <<: *default\n  post: [echo restart web]\n"
             "worker:\n  <<: *default\n  pre: []\n");
  auto r = haul_run({"publish", b.artifact.string(), "--to", file_url(store), "--role", "web", "--role", "worker",
                     "--stage", "production", "--stage", "staging", "--dest", (b.tmp / "dest").string(),
                     "--hooks", (b.tmp / "hooks.yml").string(), "--release", "r1", "--created-at",
                     "2026-11-26T10:00:00Z", "--exclude", "*.pid", "--sign", b.key.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string sum = sha256_file(b.artifact);
  EXPECT_TRUE(fs::exists(store / "r1/app.tar.gz"));
  EXPECT_EQ(sha256_file(store / "r1/app.tar.gz"), sum);
  std::vector<std::string> urls;
  for (const char* stage : {"production", "staging"}) {
    for (const char* role : {"web", "worker"}) {
      const std::string name = std::string("manifest_") + role + "_" + stage + ".yml";
      urls.push_back(file_url(store / name));
      const std::string commands = std::string(role) == "web"
                                       ? "  pre:\n    - echo pre\n  post:\n    - echo restart web\n  success:\n    - echo ok\n"
                                       : "  success:\n    - echo ok\n";
      const std::string expected = std::string("# haul publish: role ") + role + ", stage " + stage + "\n" +
                                   "src: " + file_url(store / "r1/app.tar.gz") + "\nchecksum: " + sum + "\ndest: " +
                                   (b.tmp / "dest").string() +
                                   "\nsync_strategy: rsync\nrelease: r1\ncreated_at: 2026-11-26T10:00:00Z\n"
                                   "excludes:\n  - \"*.pid\"\ncommands:\n" + commands;
      EXPECT_EQ(read_file(store / name), expected) << name;
      EXPECT_TRUE(fs::exists(store / (name + ".sig"))) << name;
      const std::string pointer = read_file(store / (std::string("latest_") + role + "_" + stage + ".yml"));
      EXPECT_NE(pointer.find("manifest: " + file_url(store / name)), std::string::npos) << pointer;
      EXPECT_NE(pointer.find("sha256: " + sha256_file(store / name)), std::string::npos) << pointer;
    }
  }
  EXPECT_EQ(lines(r.out), urls) << "stdout lists the manifest URLs, one per line";

  auto d = haul_run({"deploy", urls[0], "--trusted-key", b.pub.string()});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_NE(d.err.find("Signature OK"), std::string::npos);
  EXPECT_EQ(read_file(b.tmp / "dest/index.html"), "v1");
}

TEST(Publish, UnsignedOrForeignManifestsAreRefusedAndDestKept) {
  Build b;
  const fs::path store = b.tmp / "store";
  write_file(b.tmp / "dest/index.html", "running");
  auto r = haul_run({"publish", b.artifact.string(), "--to", file_url(store), "--role", "web", "--stage", "prod",
                     "--dest", (b.tmp / "dest").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string url = file_url(store / "manifest_web_prod.yml");
  auto d = haul_run({"deploy", url, "--trusted-key", b.pub.string()});
  EXPECT_NE(d.exit_code, 0);
  EXPECT_NE(d.err.find(url + " is not signed"), std::string::npos) << d.err;
  EXPECT_EQ(read_file(b.tmp / "dest/index.html"), "running");

  // Signed by a key the agent does not trust.
  auto k = haul_run({"keygen", "-o", (b.tmp / "other").string()});
  ASSERT_EQ(k.exit_code, 0);
  r = haul_run({"publish", b.artifact.string(), "--to", file_url(store), "--role", "web", "--stage", "prod",
                "--dest", (b.tmp / "dest").string(), "--sign", (b.tmp / "other.key").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  d = haul_run({"deploy", url, "--trusted-key", b.pub.string()});
  EXPECT_NE(d.exit_code, 0);
  EXPECT_NE(d.err.find("which is not a trusted key"), std::string::npos) << d.err;
  EXPECT_EQ(read_file(b.tmp / "dest/index.html"), "running");

  // Rotation: trusting both keys accepts it.
  d = haul_run({"deploy", url, "--trusted-key", b.pub.string(), "--trusted-key", (b.tmp / "other.pub").string()});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(read_file(b.tmp / "dest/index.html"), "v1");

  // A public key cannot sign.
  r = haul_run({"publish", b.artifact.string(), "--to", file_url(store), "--role", "web", "--stage", "prod",
                "--dest", "/srv/x", "--sign", b.pub.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("a public key cannot sign"), std::string::npos) << r.err;
}

TEST(Publish, OlderSignedReleaseIsRefusedUnlessDowngradeIsAllowed) {
  Build b;
  const fs::path dest = b.tmp / "dest";
  auto publish = [&](const std::string& release, const std::string& when, const std::string& content) {
    write_file(b.tmp / "src/index.html", content);
    const fs::path art = b.tmp / (release + ".tar.gz");
    EXPECT_EQ(haul_run({"pack", (b.tmp / "src").string(), "-o", art.string()}).exit_code, 0);
    auto r = haul_run({"publish", art.string(), "--to", file_url(b.tmp / ("store-" + release)), "--role", "web",
                       "--stage", "prod", "--dest", dest.string(), "--release", release, "--created-at", when,
                       "--sign", b.key.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return file_url(b.tmp / ("store-" + release) / "manifest_web_prod.yml");
  };
  const std::string old_url = publish("r1", "2026-11-01T00:00:00Z", "one");
  // Contents of another length: a same-size file with the same mtime second
  // would be skipped by rsync's quick check, here as with stretcher.
  const std::string new_url = publish("r2", "2026-11-02T00:00:00Z", "second");
  ASSERT_EQ(haul_run({"deploy", old_url, "--trusted-key", b.pub.string()}).exit_code, 0);
  ASSERT_EQ(haul_run({"deploy", new_url, "--trusted-key", b.pub.string()}).exit_code, 0);
  EXPECT_EQ(read_file(dest / "index.html"), "second");

  // A replay of the old, validly signed manifest.
  auto replay = haul_run({"deploy", old_url, "--trusted-key", b.pub.string()});
  EXPECT_NE(replay.exit_code, 0);
  EXPECT_NE(replay.err.find("release r1 (created 2026-11-01T00:00:00Z) is older than release r2"), std::string::npos)
      << replay.err;
  EXPECT_NE(replay.err.find("--allow-downgrade"), std::string::npos);
  EXPECT_EQ(read_file(dest / "index.html"), "second");

  // The operator's explicit rollback.
  auto rollback = haul_run({"deploy", old_url, "--trusted-key", b.pub.string(), "--allow-downgrade"});
  EXPECT_EQ(rollback.exit_code, 0) << rollback.err;
  EXPECT_EQ(read_file(dest / "index.html"), "one");
  // Redeploying the release dest runs is not a downgrade.
  EXPECT_EQ(haul_run({"deploy", old_url, "--trusted-key", b.pub.string()}).exit_code, 0);
}

TEST(Publish, ToS3AndDeployFromIt) {
  S3rverServer s3("releases");
  Build b;
  auto r = haul_run({"publish", b.artifact.string(), "--to", "s3://releases/app", "--manifests", "s3://releases/app/manifests",
                     "--role", "web", "--stage", "prod", "--dest", (b.tmp / "dest").string(), "--sign", b.key.string()},
                    s3.aws_env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out), std::vector<std::string>{"s3://releases/app/manifests/manifest_web_prod.yml"});
  auto d = haul_run({"deploy", "s3://releases/app/manifests/manifest_web_prod.yml", "--trusted-key", b.pub.string()},
                    s3.aws_env());
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(read_file(b.tmp / "dest/index.html"), "v1");
  auto latest = haul_run({"fetch", "s3://releases/app/manifests/latest_web_prod.yml"}, s3.aws_env());
  ASSERT_EQ(latest.exit_code, 0) << latest.err;
  EXPECT_NE(latest.out.find("manifest: s3://releases/app/manifests/manifest_web_prod.yml"), std::string::npos);
}

TEST(Publish, ToAnHttpPutStoreAndDeployFromIt) {
  std::mutex mu;
  std::map<std::string, std::string> objects;
  HttpStubServer store([&](const StubRequest& req) {
    std::lock_guard<std::mutex> lock(mu);
    if (req.method == "PUT") {
      objects[req.target] = req.body;
      return StubResponse(201);
    }
    auto it = objects.find(req.target);
    return it == objects.end() ? StubResponse(404, "not found") : StubResponse(200, it->second);
  });
  Build b;
  auto r = haul_run({"publish", b.artifact.string(), "--to", store.url("/releases/app"), "--role", "web", "--stage",
                     "prod", "--dest", (b.tmp / "dest").string(), "--release", "r7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_TRUE(objects.count("/releases/app/r7/app.tar.gz"));
    EXPECT_EQ(objects["/releases/app/r7/app.tar.gz"], read_file(b.artifact));
  }
  auto d = haul_run({"deploy", store.url("/releases/app/manifest_web_prod.yml")});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(read_file(b.tmp / "dest/index.html"), "v1");
}

TEST(Publish, MistakesAreNamedBeforeAnythingIsUploaded) {
  Build b;
  const fs::path store = b.tmp / "store";
  auto r = haul_run({"publish", b.artifact.string(), "--to", file_url(store), "--role", "Web Servers", "--stage", "prod",
                     "--dest", "/srv/app"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("role 'Web Servers'"), std::string::npos) << r.err;
  r = haul_run({"publish", b.artifact.string(), "--to", file_url(store), "--role", "web", "--stage", "prod",
                "--dest", "relative/dir"});
  EXPECT_NE(r.err.find("dest: expected an absolute path"), std::string::npos) << r.err;
  r = haul_run({"publish", b.artifact.string(), "--to", "ftp://host/x", "--role", "web", "--stage", "prod", "--dest", "/srv/app"});
  EXPECT_NE(r.err.find("ftp"), std::string::npos) << r.err;
  r = haul_run({"publish", (b.tmp / "nope.tgz").string(), "--to", file_url(store), "--role", "web", "--stage", "prod",
                "--dest", "/srv/app"});
  EXPECT_NE(r.err.find("nope.tgz: no such file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(store)) << "nothing was uploaded";
}

TEST(Kick, FiresOneEventPerRoleThroughConsulWithFilters) {
  ConsulDouble consul("s3cr3t");
  auto r = haul_run({"kick", "--manifests", "s3://b/app", "--role", "web", "--role", "worker", "--stage", "production",
                     "--consul-addr", consul.address(), "--token", "s3cr3t", "--service", "app", "--tag", "canary",
                     "--no-check"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto list = http_request("GET", consul.address() + "/v1/event/list", "", {"X-Consul-Token: s3cr3t"});
  auto events = nlohmann::json::parse(list.body);
  ASSERT_EQ(events.size(), 2u) << list.body;
  EXPECT_EQ(events[0]["Name"], "deploy_web_production");
  EXPECT_EQ(events[0]["Payload"], "czM6Ly9iL2FwcC9tYW5pZmVzdF93ZWJfcHJvZHVjdGlvbi55bWw=");  // base64 of the URL
  EXPECT_EQ(events[0]["ServiceFilter"], "app");
  EXPECT_EQ(events[0]["TagFilter"], "canary");
  EXPECT_EQ(events[1]["Name"], "deploy_worker_production");

  auto denied = haul_run({"kick", "s3://b/m.yml", "--name", "deploy", "--consul-addr", consul.address(), "--token", "wrong",
                          "--no-check"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("403"), std::string::npos) << denied.err;
}

TEST(Kick, OversizedEventIsRefusedWithSizes) {
  ConsulDouble consul;
  const std::string url = "s3://bucket/" + std::string(600, 'x') + ".yml";
  auto r = haul_run({"kick", url, "--name", "deploy_web", "--consul-addr", consul.address()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("over the 512-byte user event limit"), std::string::npos) << r.err;
  // Past our own check, Consul (here, its double) refuses it too, and the
  // error comes back whole.
  r = haul_run({"kick", url, "--name", "deploy_web", "--consul-addr", consul.address(), "--max-event-bytes", "100000",
                "--no-check"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exceeds configured limit of 512 bytes"), std::string::npos) << r.err;
  auto list = http_request("GET", consul.address() + "/v1/event/list");
  EXPECT_EQ(nlohmann::json::parse(list.body).size(), 0u);
}

TEST(Kick, SerfEventDeploysThroughARealAgent) {
  Build b;
  auto r = haul_run({"publish", b.artifact.string(), "--to", file_url(b.tmp / "store"), "--role", "web", "--stage",
                     "prod", "--dest", (b.tmp / "dest").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int bind_port = free_port(), rpc_port = free_port();
  const std::string rpc = "127.0.0.1:" + std::to_string(rpc_port);
  BackgroundProcess agent({"/usr/bin/serf", "agent", "-node=publish-test", "-bind=127.0.0.1:" + std::to_string(bind_port),
                           "-rpc-addr=" + rpc, "-event-handler=user:deploy_web_prod=" + haul_binary().string()},
                          b.tmp / "serf.log");
  ASSERT_TRUE(wait_until([&] { return port_open(rpc_port); })) << read_file(b.tmp / "serf.log");
  auto k = haul_run({"kick", "--via", "serf", "--serf-rpc-addr", rpc, "--manifests", file_url(b.tmp / "store"), "--role",
                     "web", "--stage", "prod"});
  ASSERT_EQ(k.exit_code, 0) << k.err;
  EXPECT_TRUE(wait_until([&] { return fs::exists(b.tmp / "dest/index.html"); }, std::chrono::seconds(30)))
      << read_file(b.tmp / "serf.log");
  EXPECT_EQ(read_file(b.tmp / "dest/index.html"), "v1");

  // No serf agent there: serf's own words come back.
  const std::string manifest = file_url(b.tmp / "store/manifest_web_prod.yml");
  const std::string nowhere = "127.0.0.1:" + std::to_string(free_port());
  auto bad = haul_run({"kick", "--via", "serf", "--serf-rpc-addr", nowhere, manifest, "--name", "deploy"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("kick via serf: event deploy"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("Error connecting to Serf agent: dial tcp " + nowhere + ": connect: connection refused"),
            std::string::npos)
      << bad.err;
  // A role that was never published: nothing is fired.
  auto missing = haul_run({"kick", "--via", "serf", "--serf-rpc-addr", rpc, "--manifests", file_url(b.tmp / "store"),
                           "--role", "web", "--role", "nosuchrole", "--stage", "prod"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("not firing deploy_nosuchrole_prod: its manifest " +
                             file_url(b.tmp / "store/manifest_nosuchrole_prod.yml") + " cannot be read"),
            std::string::npos)
      << missing.err;
  EXPECT_EQ(missing.err.find("fired"), std::string::npos) << "not even web's event: " << missing.err;
}

TEST(Release, OneCommandFromAProjectFile) {
  TempDir tmp;
  ConsulDouble consul;
  const fs::path repo = tmp / "shop";
  fs::create_directories(repo);
  auto git = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/git", "-C", repo.string(), "-c", "user.name=t", "-c", "user.email=t@example.com"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  git({"init", "-q", "-b", "main"});
  write_file(repo / "index.html", "shop v1");
  write_file(repo / "config/hooks.yml", "default:\n  success: [echo deployed]\n");
  git({"add", "."});
  git({"commit", "-qm", "v1"});
  ASSERT_EQ(haul_run({"keygen", "-o", (tmp / "release").string()}).exit_code, 0);
  write_file(repo / "haul-release.yaml",
             "app: shop\n"
             "git: {repo: ., ref: main}\n"
             "store: " + file_url(tmp / "store") + "\n"
             "hooks: config/hooks.yml\n"
             "roles: [web]\n"
             "stages:\n  production: {dest: " + (tmp / "dest").string() + ", sync_strategy: release}\n"
             "sign: " + (tmp / "release.key").string() + "\n"
             "kick:\n  via: consul\n  address: {{ env \"TEST_CONSUL\" }}\n");
  ProcessOptions o;
  o.cwd = repo.string();
  o.env = {{"TEST_CONSUL", consul.address()}};
  auto r = run_process({haul_binary().string(), "release"}, o);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string manifest_url = file_url(tmp / "store/manifest_web_production.yml");
  EXPECT_EQ(lines(r.out), std::vector<std::string>{manifest_url});
  auto events = nlohmann::json::parse(http_request("GET", consul.address() + "/v1/event/list").body);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["Name"], "deploy_web_production");

  // What an agent does with the event's payload.
  auto d = haul_run({"deploy", manifest_url, "--trusted-key", (tmp / "release.pub").string()});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(read_file(tmp / "dest/current/index.html"), "shop v1");
  std::string commit = git({"rev-parse", "HEAD"});
  EXPECT_EQ(read_file(tmp / "dest/current/REVISION"), commit);
  EXPECT_NE(read_file(tmp / "store/manifest_web_production.yml").find("release: "), std::string::npos);

  auto wrong = run_process({haul_binary().string(), "release", "staging"}, o);
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("has no stage 'staging'; it has: production"), std::string::npos) << wrong.err;
}

// A published release's artifact is immutable: the same bytes again are
// fine, other bytes under the same release are refused (old manifests would
// fail their checksum).
TEST(Publish, ARepublishWithOtherBytesIsRefusedTheSameBytesAreIdempotent) {
  Build b;
  const fs::path store = b.tmp / "store";
  const std::vector<std::string> args{"--to", file_url(store), "--role", "web", "--stage", "prod", "--dest", "/srv/app",
                                      "--release", "r1"};
  auto publish = [&](const fs::path& artifact) {
    std::vector<std::string> a{"publish", artifact.string()};
    a.insert(a.end(), args.begin(), args.end());
    return haul_run(a);
  };
  auto r = publish(b.artifact);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first = read_file(store / "r1/app.tar.gz");
  r = publish(b.artifact);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("is already there with the same bytes; not uploaded again"), std::string::npos) << r.err;
  Build other("v2");
  fs::create_directories(b.tmp / "changed");
  fs::copy_file(other.artifact, b.tmp / "changed/app.tar.gz");  // same name, other bytes
  r = publish(b.tmp / "changed/app.tar.gz");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("already holds a different artifact"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(store / "r1/app.tar.gz"), first) << "the published artifact is kept";
}
