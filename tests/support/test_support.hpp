// SPDX-License-Identifier: Apache-2.0
// Helpers shared by haul's tests: temporary folders, running a real process
// with stdin/env and capturing its output, building tar archives with
// libarchive (including hostile ones no tar tool would write), polling.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace haul::sdk {
class Sink;
}

namespace haul::test {

namespace fs = std::filesystem;

// A credential chain's environment (net/environment.hpp) made of vars only:
// tests never read, or leak, the real one.
std::function<std::optional<std::string>(const std::string&)> environment_of(std::map<std::string, std::string> vars);

// Everything fetch delivers to the sink it is given, as one string; the
// sink is pinned to `pinned` (haul::sdk::Sink::pinned), as a resume's is.
std::string collect_bytes(const std::function<void(haul::sdk::Sink&)>& fetch, const std::string& pinned = "");

// A fresh folder under $TMPDIR (or /tmp), removed at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& content, unsigned mode = 0644);
std::string read_file(const fs::path& path);
std::string sha256_hex(const std::string& bytes);
std::string sha256_file(const fs::path& path);
// n bytes that do not compress, the same for the same seed.
std::string random_bytes(size_t n, uint32_t seed);

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out, err;
  bool timed_out = false;
};

struct ProcessOptions {
  std::string stdin_text;
  bool close_stdin = true;  // false: stdin is /dev/null
  std::map<std::string, std::string> env;  // added to (or overriding) the environment
  std::vector<std::string> unset_env;
  std::chrono::milliseconds timeout{60000};
  std::string cwd;
};
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& opts = {});

// A long-running child (a server) stopped with SIGTERM, then SIGKILL, at the end.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const fs::path& log_file,
                    const std::map<std::string, std::string>& env = {});
  ~BackgroundProcess();
  bool running();
  int pid() const { return pid_ < 0 ? -pid_ : pid_; }
  // Waits for the process to end; its exit code (-N for signal N), or
  // nullopt if it still runs after timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  std::optional<int> exit_code_;
};

// Polls pred every 20 ms until it holds or timeout passes.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();
bool port_open(int port);

// One entry of a test archive.
struct Entry {
  enum Type { file, dir, symlink, hardlink, fifo } type = file;
  std::string name;
  std::string content;  // file: data; symlink/hardlink: target
  unsigned mode = 0644;
  int64_t mtime = 1700000000;
};
Entry file_entry(const std::string& name, const std::string& content, unsigned mode = 0644);
Entry dir_entry(const std::string& name, unsigned mode = 0755);
Entry symlink_entry(const std::string& name, const std::string& target);

// filter: "gzip", "zstd", "xz", "none".
std::string make_tar(const std::vector<Entry>& entries, const std::string& filter = "gzip");

// Yields bytes in chunks of `chunk`, then {nullptr, 0}: a stream as a
// network source would deliver it (the core's ChunkReader).
std::function<std::pair<const void*, size_t>()> chunks_of(const std::string& bytes, size_t chunk);

// The directory with the haul binary and plugins (set by CMake).
fs::path build_dir();
fs::path haul_binary();
std::string file_url(const fs::path& path);

}  // namespace haul::test

namespace haul::test {

// A real nginx (Debian's) serving `root` on 127.0.0.1, stopped at the end.
//   /slow/...            the same files, limited to 20 kB/s
//   /moved               301 to /app.tgz (when it exists)
//   /loop                redirects to itself forever
class NginxServer {
 public:
  explicit NginxServer(const fs::path& root);
  ~NginxServer();
  std::string url(const std::string& path) const;  // path starts with '/'
  int port() const { return port_; }
  // What nginx logged so far, one line per request ("GET /x HTTP/1.1" STATUS BYTES ...).
  std::string access_log() const;

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace haul::test

namespace haul::test {

struct HttpResult {
  long status = 0;
  std::string body;
};
// One HTTP request with libcurl (for driving test servers).
HttpResult http_request(const std::string& method, const std::string& url, const std::string& body = "",
                        const std::vector<std::string>& headers = {});

// The project's Consul HTTP API test double (tests/servers/consul_double.py)
// on 127.0.0.1; restart() brings it back on the same port, empty, as a
// restarted Consul agent would be.
class ConsulDouble {
 public:
  explicit ConsulDouble(const std::string& token = "");
  ~ConsulDouble();
  std::string address() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void stop();
  void start();
  // Fires an event; returns its ID.
  std::string fire(const std::string& name, const std::string& payload);

 private:
  TempDir dir_;
  int port_;
  std::string token_;
  std::unique_ptr<BackgroundProcess> process_;
};

// A real etcd cluster (Debian's etcd-server 3.4) of `members` members on
// 127.0.0.1, random ports, temporary data folders; stop(i)/start(i) kill a
// member and bring it back with its data, as a crashed host would.
class EtcdCluster {
 public:
  // tls: a folder with ca.pem, server.pem/server.key: clients must then
  // speak https and show a certificate signed by ca.pem.
  explicit EtcdCluster(int members = 3, const fs::path& tls = {});
  ~EtcdCluster();
  std::vector<std::string> endpoints() const;  // client URLs
  std::string endpoint(int i) const {
    return (tls_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(client_ports_[i]);
  }
  void stop(int i);
  void start(int i);
  bool healthy(int i) const;

 private:
  TempDir dir_;
  fs::path tls_;
  std::vector<int> client_ports_, peer_ports_;
  std::string initial_cluster_;
  std::vector<std::unique_ptr<BackgroundProcess>> members_;
};

// s3rver (npm, tests/servers) on 127.0.0.1 with one bucket, credentials
// S3RVER/S3RVER; aws_env() is the environment a haul process needs to reach it.
class S3rverServer {
 public:
  explicit S3rverServer(const std::string& bucket = "releases");
  ~S3rverServer();
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::map<std::string, std::string> aws_env() const;
  fs::path data_dir() const { return dir_ / "data"; }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<BackgroundProcess> process_;
};

// The project's Cloud Storage double (tests/servers/gcs_double.py) on
// 127.0.0.1 with bucket "releases"; it writes a service account key and an
// authorized_user file whose token_uri is its own /token.
class GcsDouble {
 public:
  struct Options {
    int token_lifetime_s = 3600;
    std::vector<std::string> hmac;  // "ID:SECRET"
    bool allow_anonymous = false;
  };
  GcsDouble();
  explicit GcsDouble(const Options& options);
  ~GcsDouble();
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  fs::path service_account() const { return dir_ / "service-account.json"; }
  fs::path authorized_user() const { return dir_ / "authorized-user.json"; }
  void put(const std::string& bucket, const std::string& object, const std::string& data);
  std::string object(const std::string& bucket, const std::string& object);  // throws when absent
  // Of the requests whose path contains `path` (and method, if set), the
  // `count` after the first `skip` answer `status`.
  void fail(const std::string& path, int status, const std::string& reason, int count = 1, const std::string& method = "",
            int skip = 0);
  void cut(const std::string& bucket, const std::string& object, size_t after);  // the next download stops there
  // The same, and right after the cut (before any resume can arrive) the
  // object is replaced by `then`: a publish landing between two attempts.
  void cut_then_replace(const std::string& bucket, const std::string& object, size_t after, const std::string& then);
  void revoke();                                                                 // every token so far is refused
  // Requests so far whose method matches (or any, when empty) and whose path contains `path`.
  int count(const std::string& method, const std::string& path) const;
  std::string log_json() const;

 private:
  void control(const std::string& what, const std::string& body) const;
  TempDir dir_;
  int port_;
  std::unique_ptr<BackgroundProcess> process_;
};

// tests/servers/cut_proxy.py in front of a real server (nginx, s3rver, the
// Cloud Storage double): cut(path, n) ends the next GET of path after n body
// bytes and holds every later request for it until release(), so a test can
// replace the object between the cut and the resume.
class CutProxy {
 public:
  explicit CutProxy(const std::string& upstream);
  ~CutProxy();
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void cut(const std::string& path, size_t after);
  bool was_cut() const;
  int held() const;  // requests held since the cut
  void release();
  // The requests passed on whose path contains `path`: their Range, If-Match and If-Range headers ("" when absent).
  struct Seen {
    std::string method, path, range, if_match, if_range, status;
  };
  std::vector<Seen> seen(const std::string& path) const;

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<BackgroundProcess> process_;
};

// The message of what f throws; "" when it does not throw.
std::string error_of(const std::function<void()>& f);

// The first line of text that holds needle ("" when none): a message and
// its place must be on one line.
std::string line_with(const std::string& text, const std::string& needle);

// Standard base64 (Consul's event payloads).
std::string base64_of(const std::string& bytes);

// Counts lines of a file (0 when it does not exist).
size_t count_lines(const fs::path& path);
bool file_contains(const fs::path& path, const std::string& needle);

}  // namespace haul::test
