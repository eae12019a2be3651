// SPDX-License-Identifier: Apache-2.0
// The real haul binary, driven the way operators and consul watch / Serf
// drive it: stdin formats, flags, exit codes, the failure path, and what is
// (and is not) left in dest.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "test_support.hpp"

using namespace haul::test;

namespace {

// path → "type mode content" for every entry under dir: two equal snapshots
// mean the tree was left exactly as it was.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st;
    lstat(e.path().c_str(), &st);
    std::string rel = fs::relative(e.path(), dir).string();
    std::string desc = std::to_string(st.st_mode) + " " + std::to_string(st.st_mtim.tv_sec);
    if (e.is_regular_file()) desc += " " + read_file(e.path());
    out[rel] = desc;
  }
  return out;
}

class Cli : public ::testing::Test {
 protected:
  TempDir tmp;
  fs::path dest = tmp / "www/app";

  // Writes the archive and a manifest for it; returns the manifest's URL.
  std::string publish(const std::vector<Entry>& entries, const std::string& extra = "",
                      const std::string& name = "manifest.yml", std::string checksum = "") {
    const std::string tar = make_tar(entries);
    write_file(tmp / (name + ".tgz"), tar);
    if (checksum.empty()) checksum = sha256_hex(tar);
    write_file(tmp / name, "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + checksum +
                               "\ndest: " + dest.string() + "\n" + extra);
    return file_url(tmp / name);
  }

  ProcessResult haul(const std::vector<std::string>& args, const std::string& stdin_text = "",
                     std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv{haul_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.stdin_text = stdin_text;
    o.env = std::move(env);
    o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "SERF_USER_LTIME", "HAUL_PLUGIN_PATH"};
    o.cwd = tmp.path().string();
    return run_process(argv, o);
  }

  std::vector<Entry> app_v1() {
    return {dir_entry("./"), file_entry("./index.html", "v1"), dir_entry("./lib"), file_entry("./lib/a.rb", "a")};
  }
};


}  // namespace

TEST_F(Cli, PlainLineWithAndWithoutTrailingNewline) {
  std::string url = publish(app_v1());
  auto r = haul({}, url + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
  fs::remove_all(dest);
  r = haul({}, url);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "lib/a.rb"), "a");
}

TEST_F(Cli, ConsulWatchArrayDeploysTheNewestEvent) {
  std::string v1 = publish(app_v1(), "", "v1.yml");
  std::string v2 = publish({file_entry("index.html", "v2")}, "", "v2.yml");
  std::string events = R"([{"ID":"e1","Name":"deploy","Payload":")" + base64_of(v1) +
                       R"(","NodeFilter":"","ServiceFilter":"","TagFilter":"","Version":1,"LTime":5},)"
                       R"({"ID":"e2","Name":"deploy","Payload":")" + base64_of(v2) +
                       R"(","NodeFilter":"","ServiceFilter":"","TagFilter":"","Version":1,"LTime":6}])";
  auto r = haul({}, events, {{"CONSUL_INDEX", "6"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v2");
  EXPECT_NE(r.err.find("e2 (ltime 6, newest of 2)"), std::string::npos) << r.err;
}

TEST_F(Cli, ConsulWatchEmptyArrayIsNotAnError) {
  auto r = haul({}, "[]", {{"CONSUL_INDEX", "1"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no events"), std::string::npos) << r.err;
}

TEST_F(Cli, UnderConsulWatchAFailureStillExitsZero) {
  std::string bad = file_url(tmp / "missing.yml");
  std::string events = R"([{"ID":"e1","Name":"deploy","Payload":")" + base64_of(bad) + R"(","LTime":1}])";
  auto r = haul({}, events, {{"CONSUL_INDEX", "1"}});
  EXPECT_EQ(r.exit_code, 0) << "a non-zero exit would stop consul watch";
  EXPECT_NE(r.err.find("missing.yml: No such file or directory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exiting 0 despite the failure"), std::string::npos) << r.err;
  // The same input outside consul watch fails loudly.
  r = haul({}, bad + "\n");
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(Cli, SerfUserEventPayload) {
  std::string url = publish(app_v1());
  auto r = haul({}, url + "\n", {{"SERF_USER_EVENT", "deploy"}, {"SERF_USER_LTIME", "12"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Serf user event deploy (ltime 12)"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
}

TEST_F(Cli, WrongChecksumLeavesDestUntouchedAndFeedsTheLogToFailureCommands) {
  write_file(dest / "index.html", "live");
  write_file(dest / "keep.txt", "live too");
  auto before = snapshot(dest);
  std::string url = publish(app_v1(),
                            "commands:\n  pre: [\"touch " + (tmp / "pre-ran").string() + "\"]\n"
                            "  failure: [\"cat > " + (tmp / "failure.log").string() + "\"]\n",
                            "manifest.yml", std::string(64, '0'));
  auto r = haul({}, url + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(snapshot(dest), before);
  EXPECT_FALSE(fs::exists(tmp / "pre-ran")) << "pre runs only after the artifact is verified";
  std::string log = read_file(tmp / "failure.log");
  EXPECT_NE(log.find("checksum mismatch for " + file_url(tmp / "manifest.yml.tgz")), std::string::npos) << log;
  EXPECT_NE(log.find("Loading manifest"), std::string::npos) << "the whole log, not just the error";
  for (const auto& e : fs::directory_iterator(dest.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".haul-staging"), std::string::npos) << "staging removed";
}

TEST_F(Cli, CorruptArchiveAndHostileEntriesLeaveDestUntouched) {
  write_file(dest / "index.html", "live");
  auto before = snapshot(dest);
  // An archive that is cut in half, with a checksum that matches the cut bytes.
  std::string tar = make_tar({file_entry("big", std::string(300000, 'x') + "tail")}, "gzip");
  write_file(tmp / "cut.tgz", tar.substr(0, tar.size() / 2));
  write_file(tmp / "cut.yml", "src: " + file_url(tmp / "cut.tgz") + "\nchecksum: " +
                                  sha256_hex(tar.substr(0, tar.size() / 2)) + "\ndest: " + dest.string() + "\n");
  auto r = haul({"deploy", file_url(tmp / "cut.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(dest), before);

  std::string url = publish({file_entry("ok.txt", "fine"), file_entry("../escape.txt", "evil")});
  r = haul({"deploy", url});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("archive entry '../escape.txt'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dest.parent_path() / "escape.txt"));
  EXPECT_EQ(snapshot(dest), before);
}

TEST_F(Cli, RsyncDeleteExcludesAndExcludeFrom) {
  write_file(dest / "test.pid", "1234");
  write_file(dest / "stale.html", "old");
  write_file(dest / "uploads/photo.jpg", "user data");
  std::string url = publish({file_entry("index.html", "v1"), file_entry("config/rsync_exclude.txt", "# keep uploads\n/uploads/\n")},
                            "excludes: [\"*.pid\"]\nexclude_from: config/rsync_exclude.txt\n");
  auto r = haul({"deploy", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "test.pid"), "1234");
  EXPECT_EQ(read_file(dest / "uploads/photo.jpg"), "user data");
  EXPECT_FALSE(fs::exists(dest / "stale.html"));
  EXPECT_EQ(read_file(dest / "index.html"), "v1");

  // Without the excludes, rsync --delete semantics remove the stale pid too.
  url = publish({file_entry("index.html", "v2")}, "", "plain.yml");
  r = haul({"deploy", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(dest / "test.pid"));
  EXPECT_FALSE(fs::exists(dest / "uploads"));
}

TEST_F(Cli, MissingExcludeFromIsNamed) {
  std::string url = publish(app_v1(), "exclude_from: nope.txt\n");
  auto r = haul({"deploy", url});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exclude_from: 'nope.txt' is not a file in the archive"), std::string::npos) << r.err;
}

TEST_F(Cli, DestModeAppliesWithAndWithoutADotSlashEntry) {
  for (bool with_root : {true, false}) {
    fs::remove_all(dest);
    std::vector<Entry> entries = {file_entry("index.html", "x")};
    if (with_root) entries.insert(entries.begin(), dir_entry("./", 0777));
    auto r = haul({"deploy", publish(entries, "dest_mode: 0750\n")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    struct stat st;
    stat(dest.c_str(), &st);
    EXPECT_EQ(st.st_mode & 07777, 0750u) << "with ./ entry: " << with_root;
  }
  fs::remove_all(dest);
  auto r = haul({"deploy", publish({dir_entry("./", 0700), file_entry("a", "x")})});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  stat(dest.c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "default dest_mode wins over the archive's ./ mode";
}

TEST_F(Cli, PreRunsBeforeDestIsTouchedAndPostAfter) {
  write_file(dest / "index.html", "old");
  std::string url = publish({file_entry("index.html", "new")},
                            "commands:\n  pre: [\"cat " + (dest / "index.html").string() + " > " + (tmp / "pre.txt").string() +
                                "\"]\n  post: [\"cat " + (dest / "index.html").string() + " > " + (tmp / "post.txt").string() +
                                "\"]\n  success: [\"cat > " + (tmp / "success.log").string() + "\"]\n");
  auto r = haul({"deploy", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tmp / "pre.txt"), "old");
  EXPECT_EQ(read_file(tmp / "post.txt"), "new");
  EXPECT_NE(read_file(tmp / "success.log").find("Deploy manifest succeeded."), std::string::npos);
}

TEST_F(Cli, FailingPostCommandFailsTheDeployNamingTheCommand) {
  std::string url = publish(app_v1(), "commands:\n  post: [\"exit 7\"]\n  failure: [\"cat > " + (tmp / "f.log").string() + "\"]\n");
  auto r = haul({"deploy", url});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("command `exit 7` failed: exit status 7"), std::string::npos) << r.err;
  EXPECT_NE(read_file(tmp / "f.log").find("exit status 7"), std::string::npos);
}

TEST_F(Cli, CommandsOnlyManifest) {
  write_file(tmp / "cmds.yml", "commands:\n  pre: [\"echo from-pre > " + (tmp / "out").string() +
                                   "\"]\n  post: [\"echo from-post >> " + (tmp / "out").string() + "\"]\n");
  auto r = haul({}, file_url(tmp / "cmds.yml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tmp / "out"), "from-pre\nfrom-post\n");
}

TEST_F(Cli, MvStrategy) {
  std::string url = publish(app_v1(), "sync_strategy: mv\n");
  auto r = haul({"deploy", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
  r = haul({"deploy", url});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sync_strategy mv: dest " + dest.string() + " already exists"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
}

TEST_F(Cli, InvalidStrategyAndYamlErrorsAreClear) {
  write_file(tmp / "bad.yml", "commands:\n  pre:\n    - echo foo: bar\n");
  auto r = haul({"deploy", file_url(tmp / "bad.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.yml:3:7: commands.pre[0]: expected a string, got a map"), std::string::npos) << r.err;
  r = haul({"deploy", publish(app_v1(), "sync_strategy: copy\n")});
  EXPECT_NE(r.err.find("unknown strategy 'copy'"), std::string::npos) << r.err;
}

TEST_F(Cli, StretcherFlagsInGoAndGnuSpelling) {
  std::string url = publish(app_v1());
  auto r = haul({"-timeout", "10s", "-retry", "1", "-retry-wait=1", "--max-bandwidth", "10M", "--rsync-verbose=", "-random-delay", "0.01"},
                url);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
  r = haul({"--timeout", "soon"}, url);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--timeout: expected a duration like 500ms, 10s, 1m30s; got 'soon'"), std::string::npos) << r.err;
  r = haul({"--bogus"}, url);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
  r = haul({"-v"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("haul ", 0), 0u) << r.out;
}

TEST_F(Cli, RetryFlagRetriesTheFetch) {
  int port = free_port();
  write_file(tmp / "r.yml", "src: http://127.0.0.1:" + std::to_string(port) + "/app.tgz\nchecksum: " +
                                std::string(64, 'a') + "\ndest: " + dest.string() + "\n");
  auto r = haul({"deploy", file_url(tmp / "r.yml"), "--retry", "2", "--retry-wait", "50ms"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("retry 1/2 in 50ms"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("retry 2/2 in 50ms"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("failed (after 3 attempts)"), std::string::npos) << r.err;
}

TEST_F(Cli, PluginsListAndDescribe) {
  auto r = haul({"plugins", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"consul-watch", "file", "http", "shell"})
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
  EXPECT_NE(r.out.find((build_dir() / "plugins").string()), std::string::npos);
  r = haul({"plugins", "describe", "shell"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("timeout"), std::string::npos);
  EXPECT_NE(r.out.find("duration"), std::string::npos);
  r = haul({"plugins", "describe", "consul-rollout"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("gate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("session_ttl"), std::string::npos) << r.out;
  r = haul({"plugins", "describe", "nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no plugin named 'nope'; loaded: consul-http, consul-rollout, consul-status, consul-watch, etcd, etcd-rollout, etcd-status, etcd-watch, file, gcs, http, s3, shell"), std::string::npos) << r.err;
}

TEST_F(Cli, AgentConfigErrorsStopItAtStartup) {
  write_file(tmp / "haul.yaml", "pipelines:\n  web:\n    trigger: { type: consul-watch, buffer: 3 }\n");
  auto r = haul({"agent", "--config", (tmp / "haul.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("haul.yaml:3:36: pipelines.web.trigger: unknown key 'buffer' for trigger plugin consul-watch (valid keys: max_input)"),
            std::string::npos) << r.err;
  write_file(tmp / "haul.yaml", "pipelines:\n  web:\n    trigger: consul-nope\n");
  r = haul({"agent", "--config", (tmp / "haul.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no trigger plugin named 'consul-nope'"), std::string::npos) << r.err;
  r = haul({"agent"});
  EXPECT_NE(r.err.find("haul agent needs --config FILE"), std::string::npos) << r.err;
}

namespace {

// A TCP port on 127.0.0.1 that listens but is never served: whatever
// connects to it stays in its accept queue, so after a run, connected()
// tells whether anything reached for it — without waiting for anything.
class SilentPort {
 public:
  SilentPort() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 16);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPort() { close(fd_); }
  std::string address() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool connected() {
    const int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return false;
    close(c);
    return true;
  }

 private:
  int fd_;
  int port_ = 0;
};

// Five different mistakes, one of each kind the file can hold.
const char* kFiveMistakes =
    "state_dri: /tmp/haul-state\n"
    "pipelines:\n"
    "  web:\n"
    "    trigger: { type: consul-http, event: deploy_web, adress: 127.0.0.1:8500 }\n"
    "    hooks: [shell, shel]\n"
    "    deploy: { timeout: 10 minutes }\n"
    "    rollout: { max_parallel: 150% }\n";

// Every one of the five, each on its own line with its file:line.
void expect_the_five_mistakes(const std::string& err) {
  EXPECT_NE(err.find("5 errors"), std::string::npos) << err;
  EXPECT_NE(line_with(err, "haul.yaml:1:1: unknown key 'state_dri' — did you mean 'state_dir'?"), "") << err;
  const std::string adress = line_with(err, "unknown key 'adress' for trigger plugin consul-http — did you mean 'address'?");
  EXPECT_NE(adress.find("haul.yaml:4:"), std::string::npos) << err;
  EXPECT_NE(adress.find("pipelines.web.trigger"), std::string::npos) << err;
  const std::string shel = line_with(err, "no hook plugin named 'shel' — did you mean 'shell'?");
  EXPECT_NE(shel.find("haul.yaml:5:"), std::string::npos) << err;
  EXPECT_NE(shel.find("pipelines.web.hooks[1]"), std::string::npos) << err;
  EXPECT_NE(line_with(err, "pipelines.web.deploy.timeout: expected a duration").find("haul.yaml:6:"), std::string::npos) << err;
  EXPECT_NE(line_with(err, "pipelines.web.rollout.max_parallel: expected a number of nodes").find("haul.yaml:7:"),
            std::string::npos)
      << err;
}

}  // namespace

// One run names every mistake of the file, not the first one per part.
TEST_F(Cli, AgentReportsEveryMistakeOfTheFileInOneRun) {
  write_file(tmp / "haul.yaml", kFiveMistakes);
  auto r = haul({"agent", "--config", (tmp / "haul.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  expect_the_five_mistakes(r.err);
}

TEST_F(Cli, CheckReportsEveryMistakeAndExitsTwo) {
  write_file(tmp / "haul.yaml", kFiveMistakes);
  for (const std::vector<std::string>& args : {std::vector<std::string>{"check", (tmp / "haul.yaml").string()},
                                               std::vector<std::string>{"agent", "--check", "--config", (tmp / "haul.yaml").string()}}) {
    auto r = haul(args);
    EXPECT_EQ(r.exit_code, 2) << args[0];
    expect_the_five_mistakes(r.err);
  }
}

// haul check builds every plugin with its settings, and summarises the
// file; it starts no trigger's watch and no status hook's heartbeat (the
// silent port stays untouched).
TEST_F(Cli, CheckAcceptsAGoodFileAndSummarisesIt) {
  SilentPort consul;
  write_file(tmp / "haul.yaml", "consul: { address: '" + consul.address() + "' }\n"
                                "pipelines:\n"
                                "  web:\n"
                                "    trigger: { type: consul-http, event: deploy_web }\n"
                                "    hooks: [shell, consul-status]\n"
                                "    rollout: { canary: 2, max_parallel: 25%, on_halt: rollback }\n"
                                "    desired: file:///srv/pointers/latest_web_production.yml\n"
                                "  batch:\n"
                                "    trigger: consul-watch\n");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"check", (tmp / "haul.yaml").string()},
                                               std::vector<std::string>{"agent", "--check", "--config", (tmp / "haul.yaml").string()}}) {
    auto r = haul(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("2 pipelines"), std::string::npos) << r.out;
    const std::string web = r.out.substr(r.out.find("web"));
    EXPECT_NE(line_with(web, "trigger").find("consul-http"), std::string::npos) << r.out;
    EXPECT_NE(line_with(web, "hooks").find("shell, consul-status"), std::string::npos) << r.out;
    EXPECT_NE(line_with(web, "rollout").find("canary 2"), std::string::npos) << r.out;
    EXPECT_NE(line_with(web, "rollout").find("max_parallel 25%"), std::string::npos) << r.out;
    EXPECT_NE(line_with(web, "desired").find("file:///srv/pointers/latest_web_production.yml"), std::string::npos) << r.out;
    const std::string batch = r.out.substr(r.out.find("batch"));
    EXPECT_NE(line_with(batch, "trigger").find("consul-watch"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("watching Consul event"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(consul.connected()) << "a check must not start the trigger's watch";
}

TEST_F(Cli, CheckSaysWhyItCannotReadTheFile) {
  auto r = haul({"check", (tmp / "absent.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("absent.yaml: cannot read the config file: No such file or directory"), std::string::npos) << r.err;
  r = haul({"agent", "--check", "--config", tmp.path().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot read the config file: Is a directory"), std::string::npos) << r.err;
  r = haul({"agent", "--config", (tmp / "absent.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot read the config file: No such file or directory"), std::string::npos) << r.err;
}

// Pipeline web is whole, pipeline api is not: web's trigger must not have
// started watching when the agent gives up.
TEST_F(Cli, NoTriggerWatchesBeforeTheWholeConfigIsGood) {
  SilentPort consul;
  write_file(tmp / "haul.yaml", "pipelines:\n"
                                "  web:\n"
                                "    trigger: { type: consul-http, event: deploy_web, address: '" + consul.address() + "' }\n"
                                "  api:\n"
                                "    trigger: consul-watch\n"
                                "    hooks: [{ type: shell, timeout: soon }]\n");
  auto r = haul({"agent", "--config", (tmp / "haul.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pipelines.api.hooks[0].timeout: expected a duration"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("watching Consul event"), std::string::npos) << r.err;
  EXPECT_FALSE(consul.connected()) << "web's trigger reached for Consul while api's config was still wrong";
}

TEST_F(Cli, AgentAndHandlerUseThePipelineConfig) {
  std::string url = publish(app_v1(), "commands:\n  post: [\"echo post-ran\"]\n");
  write_file(tmp / "haul.yaml", "pipelines:\n  web:\n    trigger: consul-watch\n    sources: { http: { connect_timeout: 2s } }\n"
                                "    hooks: [shell]\n    deploy: { retry: 1 }\n");
  auto r = haul({"agent", "--config", (tmp / "haul.yaml").string()}, url);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[web] <post `echo post-ran`> post-ran"), std::string::npos) << r.err;
  fs::remove_all(dest);
  r = haul({"--config", (tmp / "haul.yaml").string(), "--pipeline", "web"}, url);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
  r = haul({"--config", (tmp / "haul.yaml").string(), "--pipeline", "db"}, url);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no pipeline named 'db'; the file has: web"), std::string::npos) << r.err;
}

TEST_F(Cli, DeployOverHttpFromNginx) {
  TempDir root;
  const std::string tar = make_tar(app_v1());
  write_file(root / "app.tgz", tar);
  NginxServer nginx(root.path());
  write_file(root / "manifest.yml", "src: " + nginx.url("/app.tgz") + "\nchecksum: " + sha256_hex(tar) +
                                        "\ndest: " + dest.string() + "\n");
  auto r = haul({}, nginx.url("/manifest.yml") + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), "v1");
  r = haul({"deploy", nginx.url("/nothing.yml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GET " + nginx.url("/nothing.yml") + ": HTTP 404"), std::string::npos) << r.err;
}

TEST_F(Cli, TimeoutAgainstASlowNginx) {
  TempDir root;
  std::string big(400'000, '\0');  // incompressible, so the archive stays large
  uint64_t x = 88172645463325252ull;
  for (auto& c : big) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  const std::string tar = make_tar({file_entry("big.bin", big)});
  write_file(root / "app.tgz", tar);
  NginxServer nginx(root.path());
  write_file(tmp / "slow.yml", "src: " + nginx.url("/slow/app.tgz") + "\nchecksum: " + sha256_hex(tar) +
                                   "\ndest: " + dest.string() + "\n");
  auto r = haul({"deploy", file_url(tmp / "slow.yml"), "--timeout", "1s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("timeout 1s reached while fetching " + nginx.url("/slow/app.tgz")), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dest));
}

TEST_F(Cli, FetchDownloadsAndVerifies) {
  write_file(tmp / "artifact.bin", "payload bytes");
  auto r = haul({"fetch", file_url(tmp / "artifact.bin"), "-o", (tmp / "copy.bin").string(), "--checksum",
                 sha256_hex("payload bytes")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tmp / "copy.bin"), "payload bytes");
  r = haul({"fetch", file_url(tmp / "artifact.bin"), "--checksum", std::string(64, 'a')});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "payload bytes") << "stdout by default";
  EXPECT_NE(r.err.find("checksum mismatch for " + file_url(tmp / "artifact.bin")), std::string::npos) << r.err;
  r = haul({"fetch", "gopher://x/y"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no source plugin serves the scheme 'gopher'"), std::string::npos) << r.err;
}

TEST_F(Cli, JsonLogLinesParse) {
  auto r = haul({"--log-format", "json"}, publish(app_v1()) + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.err);
  int parsed = 0;
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);  // throws, failing the test, on a line that is not JSON
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    ++parsed;
  }
  EXPECT_GT(parsed, 5);
  EXPECT_NE(r.err.find(R"("msg":"Deploy manifest succeeded.","node":)"), std::string::npos) << r.err;
  r = haul({"--log-format", "xml"}, "x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--log-format: expected text or json"), std::string::npos) << r.err;
}

// A deploy's JSON lines carry what a log shipper filters on: the node, the
// pipeline, the event, the release, the phase a line was written in, and on
// the last line the outcome and how long the deploy took.
TEST_F(Cli, JsonLogLinesCarryTheDeploysFields) {
  const std::string ok = publish(app_v1(), "release: r1\ncommands:\n  post: ['echo restarted']\n", "ok.yml");
  const std::string bad = publish(app_v1(), "release: r2\ncommands:\n  post: ['echo failing; exit 3']\n", "bad.yml");
  auto event = [](const std::string& id, const std::string& url, int ltime) {
    return R"([{"ID":")" + id + R"(","Name":"deploy","Payload":")" + base64_of(url) +
           R"(","NodeFilter":"","ServiceFilter":"","TagFilter":"","Version":1,"LTime":)" + std::to_string(ltime) + "}]";
  };
  for (const auto& [id, url, outcome] : {std::tuple<std::string, std::string, std::string>{"ev-1", ok, "success"},
                                          {"ev-2", bad, "failure"}}) {
    auto r = haul({"--log-format", "json"}, event(id, url, id == "ev-1" ? 1 : 2),
                  {{"CONSUL_INDEX", "2"}, {"HAUL_NODE", "web-07"}});
    std::istringstream lines(r.err);
    nlohmann::json last, hook_output;
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line);
      EXPECT_EQ(j.value("node", ""), "web-07") << line;
      if (j.value("hook_phase", "") == "post") hook_output = j;
      if (j.contains("outcome")) last = j;
    }
    SCOPED_TRACE(r.err);
    ASSERT_TRUE(hook_output.is_object() && last.is_object());
    EXPECT_EQ(hook_output.value("phase", ""), "post");
    EXPECT_EQ(hook_output.value("event_id", ""), id);
    EXPECT_EQ(last.value("outcome", ""), outcome);
    EXPECT_EQ(last.value("release", ""), id == "ev-1" ? "r1" : "r2");
    EXPECT_EQ(last.value("event_id", ""), id);
    EXPECT_EQ(last.value("pipeline", ""), "default");
    ASSERT_TRUE(last.contains("duration_ms") && last["duration_ms"].is_number_integer());
    EXPECT_GE(last["duration_ms"].get<int64_t>(), 0);
    EXPECT_FALSE(last.contains("phase")) << "the outcome line belongs to no phase";
  }
}

// Under systemd (JOURNAL_STREAM names stderr's device and inode) every line
// starts with journald's priority, so `journalctl -p err` finds errors, and
// carries no time of its own; stderr redirected elsewhere keeps the plain format.
TEST_F(Cli, UnderSystemdLinesCarryJournaldPrioritiesAndNoTime) {
  const std::string missing = file_url(tmp / "no-such-manifest.yml");
  auto as_journal = [&](const std::vector<std::string>& args) {
    std::string cmd = "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\"";
    for (size_t i = 0; i < args.size(); ++i) cmd += " \"$" + std::to_string(i + 1) + "\"";
    std::vector<std::string> argv{"/bin/sh", "-c", cmd, haul_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "SERF_USER_LTIME", "HAUL_PLUGIN_PATH"};
    o.cwd = tmp.path().string();
    return run_process(argv, o);
  };
  auto r = as_journal({"deploy", missing});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("<6>info  [default] Loading manifest: " + missing + "\n", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("\n<3>error [default] Deploy manifest failed: "), std::string::npos) << r.err;
  // A message of several lines (a config's mistakes): every line keeps the priority.
  write_file(tmp / "bad.yaml", "pipelines:\n  web:\n    trigger: consul-htp\n    hooks: [shel]\n");
  r = as_journal({"agent", "--config", (tmp / "bad.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("<3>error " + (tmp / "bad.yaml").string() + ": 2 errors:\n<3>  "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\n<3>  " + (tmp / "bad.yaml").string() + ":4:13:"), std::string::npos) << r.err;
  r = as_journal({"deploy", missing, "--log-format", "json"});
  EXPECT_EQ(r.err.rfind("<6>{", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("\n<3>{"), std::string::npos) << r.err;
  r = haul({"deploy", missing}, "", {{"JOURNAL_STREAM", "1:1"}});  // another stream's: not ours
  EXPECT_EQ(r.err.find("<6>"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Z info  [default] Loading manifest"), std::string::npos) << r.err;
}

// `haul check manifest.yml` checks it as a deploy reads it, instead of
// reporting every manifest field as an unknown key of a pipeline config.
TEST_F(Cli, HaulCheckTakesAManifestToo) {
  write_file(tmp / "m.yml", "src: s3://releases/app.tgz\nchecksum: " + std::string(64, 'a') +
                                "\ndest: /srv/app\ncommands:\n  post: [systemctl restart app]\nfoo: bar\n");
  auto r = haul({"check", (tmp / "m.yml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("m.yml: a manifest, OK as a deploy reads it"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("commands   post 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ignored    foo"), std::string::npos) << r.out;
  r = haul({"check", (tmp / "m.yml").string(), "--strict"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("foo"), std::string::npos) << r.err;
  write_file(tmp / "typo.yml", "src: s3://releases/app.tgz\nchecksum: " + std::string(64, 'a') +
                                   "\ndest: /srv/app\nexclude: [tmp/]\n");
  r = haul({"check", (tmp / "typo.yml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("typo.yml:4:1: unknown field 'exclude' — did you mean 'excludes'?"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("valid keys: state_dir"), std::string::npos) << "not read as a pipeline config: " << r.err;
}

TEST_F(Cli, AnObjectThatChangesMidDownloadIsFetchedAgainFromZero) {
  const std::string tar = make_tar({file_entry("index.html", std::string(5000, 'z'))}, "none");
  write_file(tmp / "app.tar", tar);
  write_file(tmp / "m.yml", "src: flaky://" + (tmp / "app.tar").string() + "?fail_at=3000&failures=1&changed=1\nchecksum: " +
                                sha256_hex(tar) + "\ndest: " + dest.string() + "\n");
  auto r = haul({"deploy", file_url(tmp / "m.yml"), "--retry", "1", "--retry-wait", "10ms"},
                "", {{"HAUL_PLUGIN_PATH", HAUL_TEST_FIXTURE_PLUGIN_DIR}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("fetching the whole artifact again"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dest / "index.html"), std::string(5000, 'z'));
}

// A 404 (or 403, 401) does not heal by waiting: --retry 3 --retry-wait 5s
// asks the server once. A publish may land seconds after the event, though:
// --retry-missing (deploy.retry_missing) retries it like any failure.
TEST_F(Cli, AMissingObjectIsAskedForOnceUnlessRetryMissingIsGiven) {
  TempDir root;
  NginxServer nginx(root.path());
  auto requests = [&](const std::string& path) {
    size_t n = 0;
    const std::string log = nginx.access_log(), needle = "\"GET " + path + " ";
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  };
  auto r = haul({"fetch", nginx.url("/missing.bin"), "--retry", "3", "--retry-wait", "5s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GET " + nginx.url("/missing.bin") + ": HTTP 404"), std::string::npos) << r.err;
  ASSERT_TRUE(wait_until([&] { return requests("/missing.bin") >= 1; }, std::chrono::seconds(10))) << nginx.access_log();
  EXPECT_EQ(requests("/missing.bin"), 1u) << nginx.access_log();

  r = haul({"fetch", nginx.url("/late.bin"), "--retry", "2", "--retry-wait", "10ms", "--retry-missing"});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_TRUE(wait_until([&] { return requests("/late.bin") >= 3; }, std::chrono::seconds(10))) << nginx.access_log();
  EXPECT_EQ(requests("/late.bin"), 3u) << nginx.access_log();

  write_file(tmp / "haul.yaml", "pipelines:\n  p:\n    trigger: consul-watch\n"
                                "    deploy: { retry: 1, retry_wait: 10ms, retry_missing: true }\n");
  r = haul({"fetch", nginx.url("/later.bin"), "--config", (tmp / "haul.yaml").string()});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_TRUE(wait_until([&] { return requests("/later.bin") >= 2; }, std::chrono::seconds(10))) << nginx.access_log();
  EXPECT_EQ(requests("/later.bin"), 2u) << nginx.access_log();
}
