// SPDX-License-Identifier: Apache-2.0
#include "test_support.hpp"

#include <haul/sdk.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <algorithm>
#include <memory>
#include <mutex>

extern char** environ;

namespace haul::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/haul-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& path, const std::string& content, unsigned mode) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  fs::permissions(path, static_cast<fs::perms>(mode));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string sha256_file(const fs::path& path) { return sha256_hex(read_file(path)); }

namespace {

std::vector<std::string> build_env(const std::map<std::string, std::string>& add,
                                   const std::vector<std::string>& unset) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    if (add.count(key)) continue;
    bool drop = false;
    for (const auto& u : unset) drop = drop || u == key;
    if (!drop) out.push_back(entry);
  }
  for (const auto& [k, v] : add) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& opts) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  auto env = build_env(opts.env, opts.unset_env);
  std::vector<char*> envp, args;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    if (opts.close_stdin) {
      dup2(in_pipe[0], 0);
    } else {
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
    }
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) _exit(126);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  ProcessResult r;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (!opts.close_stdin || opts.stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  while (out_fd >= 0 || err_fd >= 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    pollfd fds[3];
    nfds_t n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (poll(fds, n, 100) <= 0) continue;
    for (nfds_t i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = write(in_fd, opts.stdin_text.data() + written, opts.stdin_text.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 || written == opts.stdin_text.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      std::string& dst = fds[i].fd == out_fd ? r.out : r.err;
      if (got > 0) {
        dst.append(buf, static_cast<size_t>(got));
      } else {
        close(fds[i].fd);
        (fds[i].fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const fs::path& log_file,
                                     const std::map<std::string, std::string>& env_add) {
  auto env = build_env(env_add, {});
  std::vector<char*> envp, args;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    int log = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
}

bool BackgroundProcess::running() {
  int status;
  if (pid_ <= 0) return false;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    pid_ = -pid_;  // reaped: the destructor leaves the number alone
  }
  return r == 0;
}

std::optional<int> BackgroundProcess::wait_exit(std::chrono::milliseconds timeout) {
  wait_until([&] { return !running(); }, timeout);
  return exit_code_;
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGTERM);
  kill(pid_, SIGTERM);
  bool gone = wait_until([&] {
    int status;
    return waitpid(pid_, &status, WNOHANG) != 0;
  }, std::chrono::seconds(10));
  if (!gone) {
    kill(-pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// A port no other test process of this run takes, and no outgoing
// connection either: picked below the kernel's ephemeral range (where
// connect() takes its local ports — a port bind(0) found free could be
// taken by any connection a moment later: etcd saw "address already in
// use"), claimed across processes with an flock held until this process
// ends, and free to bind now.
int free_port() {
  static std::mutex mu;
  static std::mt19937 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  const fs::path claims = fs::temp_directory_path() / "haul-test-ports";
  std::error_code ec;
  fs::create_directories(claims, ec);
  for (int attempt = 0; attempt < 10000; ++attempt) {
    const int port = 10000 + static_cast<int>(rng() % 22000);
    const int claim = open((claims / std::to_string(port)).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0666);
    if (claim < 0) continue;
    if (flock(claim, LOCK_EX | LOCK_NB) != 0) {
      close(claim);
      continue;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free_now = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (!free_now) {
      close(claim);
      continue;
    }
    return port;  // the claim stays open (and locked) until this process ends
  }
  throw std::runtime_error("no free port below the ephemeral range in 10000 tries");
}

bool port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

Entry file_entry(const std::string& name, const std::string& content, unsigned mode) {
  Entry e;
  e.type = Entry::file;
  e.name = name;
  e.content = content;
  e.mode = mode;
  return e;
}

Entry dir_entry(const std::string& name, unsigned mode) {
  Entry e;
  e.type = Entry::dir;
  e.name = name;
  e.mode = mode;
  return e;
}

Entry symlink_entry(const std::string& name, const std::string& target) {
  Entry e;
  e.type = Entry::symlink;
  e.name = name;
  e.content = target;
  e.mode = 0777;
  return e;
}

std::function<std::pair<const void*, size_t>()> chunks_of(const std::string& bytes, size_t chunk) {
  auto pos = std::make_shared<size_t>(0);
  return [bytes, pos, chunk]() -> std::pair<const void*, size_t> {
    if (*pos >= bytes.size()) return {nullptr, 0};
    const size_t n = std::min(chunk, bytes.size() - *pos);
    const void* p = bytes.data() + *pos;
    *pos += n;
    return {p, n};
  };
}

std::string make_tar(const std::vector<Entry>& entries, const std::string& filter) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  else if (filter == "zstd") archive_write_add_filter_zstd(a);
  else if (filter == "xz") archive_write_add_filter_xz(a);
  std::vector<char> buf(64 << 20);
  size_t used = 0;
  if (archive_write_open_memory(a, buf.data(), buf.size(), &used) != ARCHIVE_OK)
    throw std::runtime_error(archive_error_string(a));
  for (const auto& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.name.c_str());
    archive_entry_set_mtime(ae, e.mtime, 0);
    archive_entry_set_uid(ae, getuid());
    archive_entry_set_gid(ae, getgid());
    switch (e.type) {
      case Entry::file:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, static_cast<la_int64_t>(e.content.size()));
        break;
      case Entry::dir: archive_entry_set_filetype(ae, AE_IFDIR); break;
      case Entry::symlink:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, e.content.c_str());
        break;
      case Entry::hardlink:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_hardlink(ae, e.content.c_str());
        break;
      case Entry::fifo: archive_entry_set_filetype(ae, AE_IFIFO); break;
    }
    archive_entry_set_perm(ae, e.mode);
    archive_write_header(a, ae);
    if (e.type == Entry::file && !e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

fs::path build_dir() { return HAUL_TEST_BUILD_DIR; }
fs::path haul_binary() { return build_dir() / "haul"; }
std::string file_url(const fs::path& path) { return "file://" + path.string(); }

}  // namespace haul::test

namespace haul::test {

NginxServer::NginxServer(const fs::path& root) : port_(free_port()) {
  fs::create_directories(dir_ / "tmp");
  std::string d = dir_.path().string();
  std::string conf = std::string("daemon off;\nworker_processes 1;\n") + (geteuid() == 0 ? "user root;\n" : "") +
                     "error_log " + d + "/error.log;\npid " + d + "/nginx.pid;\n"
                     "events { worker_connections 64; }\n"
                     "http {\n  access_log " + d + "/access.log;\n"
                     "  client_body_temp_path " + d + "/tmp/body;\n  proxy_temp_path " + d + "/tmp/proxy;\n"
                     "  fastcgi_temp_path " + d + "/tmp/fcgi;\n  uwsgi_temp_path " + d + "/tmp/uwsgi;\n"
                     "  scgi_temp_path " + d + "/tmp/scgi;\n"
                     "  server {\n    listen 127.0.0.1:" + std::to_string(port_) + ";\n    root " + root.string() + ";\n"
                     "    location /slow/ { alias " + root.string() + "/; limit_rate 20k; }\n"
                     "    location = /moved { return 301 /app.tgz; }\n"
                     "    location = /loop { return 302 /loop; }\n"
                     "  }\n}\n";
  write_file(dir_ / "nginx.conf", conf);
  process_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{"/usr/sbin/nginx", "-p", d, "-e", d + "/error.log", "-c", d + "/nginx.conf"},
      dir_ / "stdout.log");
  if (!wait_until([&] { return port_open(port_); }, std::chrono::seconds(20)))
    throw std::runtime_error("nginx did not start on port " + std::to_string(port_) + ": " +
                             (fs::exists(dir_ / "error.log") ? read_file(dir_ / "error.log") : "no error.log"));
}

NginxServer::~NginxServer() { process_.reset(); }

std::string NginxServer::access_log() const {
  return fs::exists(dir_ / "access.log") ? read_file(dir_ / "access.log") : "";
}

std::string NginxServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

}  // namespace haul::test

#include <curl/curl.h>
#include <nlohmann/json.hpp>

namespace haul::test {

namespace {
size_t collect(char* data, size_t size, size_t n, void* ctx) {
  static_cast<std::string*>(ctx)->append(data, size * n);
  return size * n;
}
}  // namespace

HttpResult http_request(const std::string& method, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers) {
  CURL* curl = curl_easy_init();
  HttpResult r;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(curl) != CURLE_OK) r.status = -1;
  else curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return r;
}

ConsulDouble::ConsulDouble(const std::string& token) : port_(free_port()), token_(token) { start(); }

ConsulDouble::~ConsulDouble() { stop(); }

void ConsulDouble::start() {
  std::vector<std::string> argv = {"/usr/bin/python3", HAUL_TEST_SOURCE_DIR "/servers/consul_double.py", "--port",
                                   std::to_string(port_)};
  if (!token_.empty()) argv.insert(argv.end(), {"--token", token_});
  process_ = std::make_unique<BackgroundProcess>(argv, dir_ / "consul.log");
  if (!wait_until([&] { return port_open(port_); }))
    throw std::runtime_error("consul double did not start: " + read_file(dir_ / "consul.log"));
}

void ConsulDouble::stop() { process_.reset(); }

std::string ConsulDouble::fire(const std::string& name, const std::string& payload) {
  std::vector<std::string> headers;
  if (!token_.empty()) headers.push_back("X-Consul-Token: " + token_);
  auto r = http_request("PUT", address() + "/v1/event/fire/" + name, payload, headers);
  if (r.status != 200) throw std::runtime_error("fire failed: " + std::to_string(r.status) + " " + r.body);
  return nlohmann::json::parse(r.body)["ID"].get<std::string>();
}

EtcdCluster::EtcdCluster(int members, const fs::path& tls) : tls_(tls) {
  for (int i = 0; i < members; ++i) {
    client_ports_.push_back(free_port());
    peer_ports_.push_back(free_port());
    initial_cluster_ += (i ? "," : "") + ("m" + std::to_string(i)) + "=http://127.0.0.1:" + std::to_string(peer_ports_[i]);
  }
  members_.resize(members);
  for (int i = 0; i < members; ++i) start(i);
  for (int i = 0; i < members; ++i)
    if (!wait_until([&] { return healthy(i); }, std::chrono::seconds(30)))
      throw std::runtime_error("etcd member " + std::to_string(i) + " did not become healthy: " +
                               read_file(dir_ / ("m" + std::to_string(i) + ".log")));
}

EtcdCluster::~EtcdCluster() {
  for (auto& m : members_) m.reset();
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < client_ports_.size(); ++i) out.push_back(endpoint(static_cast<int>(i)));
  return out;
}

void EtcdCluster::start(int i) {
  const std::string name = "m" + std::to_string(i);
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_ports_[i]);
  std::vector<std::string> argv = {"/usr/bin/etcd", "--name", name, "--data-dir", (dir_ / name).string(),
                                   "--listen-client-urls", endpoint(i), "--advertise-client-urls", endpoint(i),
                                   "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                   "--initial-cluster", initial_cluster_, "--initial-cluster-state", "new",
                                   "--initial-cluster-token", "haul-test", "--heartbeat-interval", "50",
                                   "--election-timeout", "500", "--log-level", "warn"};
  if (!tls_.empty())
    argv.insert(argv.end(), {"--cert-file", (tls_ / "server.pem").string(), "--key-file", (tls_ / "server.key").string(),
                             "--client-cert-auth", "--trusted-ca-file", (tls_ / "ca.pem").string()});
  members_[i] = std::make_unique<BackgroundProcess>(argv, dir_ / (name + ".log"),
                                                    std::map<std::string, std::string>{{"ETCD_UNSUPPORTED_ARCH", ""}});
}

void EtcdCluster::stop(int i) {
  ::kill(members_[i]->pid(), SIGKILL);  // as a crashed host: no goodbye to its peers
  members_[i]->wait_exit(std::chrono::seconds(10));
  members_[i].reset();
}

bool EtcdCluster::healthy(int i) const {
  if (!tls_.empty()) {  // through etcdctl, which shows the client certificate
    ProcessOptions o;
    o.timeout = std::chrono::seconds(5);
    return run_process({"/usr/bin/etcdctl", "--endpoints", endpoint(i), "--cacert", (tls_ / "ca.pem").string(), "--cert",
                        (tls_ / "client.pem").string(), "--key", (tls_ / "client.key").string(), "endpoint", "health"},
                       o)
               .exit_code == 0;
  }
  try {
    const HttpResult r = http_request("GET", endpoint(i) + "/health");
    return r.status == 200 && r.body.find("\"health\":\"true\"") != std::string::npos;
  } catch (const std::exception&) {
    return false;
  }
}

S3rverServer::S3rverServer(const std::string& bucket) : port_(free_port()) {
  fs::create_directories(dir_ / "data");
  process_ = std::make_unique<BackgroundProcess>(
      // The legacy provider: s3rver cuts ListObjectsV2 continuation tokens with DES.
      std::vector<std::string>{"/usr/bin/env", "node", "--openssl-legacy-provider",
                               HAUL_TEST_SOURCE_DIR "/servers/node_modules/s3rver/bin/s3rver.js",
                               "-d", (dir_ / "data").string(), "-a", "127.0.0.1", "-p", std::to_string(port_),
                               "--configure-bucket", bucket, "--silent"},
      dir_ / "s3rver.log");
  if (!wait_until([&] { return port_open(port_); }, std::chrono::seconds(30)))
    throw std::runtime_error("s3rver did not start: " + read_file(dir_ / "s3rver.log"));
}

S3rverServer::~S3rverServer() { process_.reset(); }

std::map<std::string, std::string> S3rverServer::aws_env() const {
  return {{"AWS_ENDPOINT_URL", endpoint()}, {"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
          {"AWS_REGION", "us-east-1"}, {"AWS_EC2_METADATA_DISABLED", "true"}};
}

GcsDouble::GcsDouble() : GcsDouble(Options{}) {}

GcsDouble::GcsDouble(const Options& o) : port_(free_port()) {
  std::vector<std::string> argv = {"/usr/bin/python3", HAUL_TEST_SOURCE_DIR "/servers/gcs_double.py", "--port",
                                   std::to_string(port_), "--service-account-out", service_account().string(),
                                   "--authorized-user-out", authorized_user().string(), "--token-lifetime",
                                   std::to_string(o.token_lifetime_s)};
  for (const auto& key : o.hmac) argv.insert(argv.end(), {"--hmac", key});
  if (o.allow_anonymous) argv.push_back("--allow-anonymous");
  process_ = std::make_unique<BackgroundProcess>(argv, dir_ / "gcs.log");
  if (!wait_until([&] { return port_open(port_); }, std::chrono::seconds(30)))
    throw std::runtime_error("gcs double did not start: " + read_file(dir_ / "gcs.log"));
}

GcsDouble::~GcsDouble() { process_.reset(); }

void GcsDouble::control(const std::string& what, const std::string& body) const {
  auto r = http_request("POST", endpoint() + "/_double/" + what, body);
  if (r.status != 200) throw std::runtime_error("gcs double " + what + ": HTTP " + std::to_string(r.status) + " " + r.body);
}

void GcsDouble::put(const std::string& bucket, const std::string& object, const std::string& data) {
  char* escaped = curl_easy_escape(nullptr, object.c_str(), static_cast<int>(object.size()));
  std::string path = "objects/" + bucket + "/" + escaped;
  curl_free(escaped);
  control(path, data);
}

std::string GcsDouble::object(const std::string& bucket, const std::string& object) {
  char* escaped = curl_easy_escape(nullptr, object.c_str(), static_cast<int>(object.size()));
  auto r = http_request("GET", endpoint() + "/_double/objects/" + bucket + "/" + escaped);
  curl_free(escaped);
  if (r.status != 200) throw std::runtime_error("gs://" + bucket + "/" + object + " is not in the double");
  return r.body;
}

void GcsDouble::fail(const std::string& path, int status, const std::string& reason, int count, const std::string& method,
                     int skip) {
  nlohmann::json spec = {{"path", path}, {"status", status}, {"reason", reason}, {"count", count}, {"skip", skip}};
  if (!method.empty()) spec["method"] = method;
  control("fail", spec.dump());
}

void GcsDouble::cut(const std::string& bucket, const std::string& object, size_t after) {
  control("cut", nlohmann::json{{"bucket", bucket}, {"object", object}, {"after", after}}.dump());
}

void GcsDouble::cut_then_replace(const std::string& bucket, const std::string& object, size_t after,
                                 const std::string& then) {
  control("cut", nlohmann::json{{"bucket", bucket}, {"object", object}, {"after", after}, {"then_base64", base64_of(then)}}
                     .dump());
}

void GcsDouble::revoke() { control("revoke", ""); }

std::string GcsDouble::log_json() const { return http_request("GET", endpoint() + "/_double/log").body; }

int GcsDouble::count(const std::string& method, const std::string& path) const {
  int n = 0;
  for (const auto& r : nlohmann::json::parse(log_json()))
    if ((method.empty() || r["method"] == method) && r["path"].get<std::string>().find(path) != std::string::npos) ++n;
  return n;
}

CutProxy::CutProxy(const std::string& upstream) : port_(free_port()) {
  process_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{"/usr/bin/python3", HAUL_TEST_SOURCE_DIR "/servers/cut_proxy.py", "--port",
                               std::to_string(port_), "--upstream", upstream},
      dir_ / "proxy.log");
  if (!wait_until([&] { return port_open(port_); }, std::chrono::seconds(30)))
    throw std::runtime_error("cut proxy did not start: " + read_file(dir_ / "proxy.log"));
}

CutProxy::~CutProxy() { process_.reset(); }

void CutProxy::cut(const std::string& path, size_t after) {
  auto r = http_request("POST", endpoint() + "/_proxy/cut", nlohmann::json{{"path", path}, {"after", after}}.dump());
  if (r.status != 200) throw std::runtime_error("cut proxy: HTTP " + std::to_string(r.status) + " " + r.body);
}

void CutProxy::release() {
  auto r = http_request("POST", endpoint() + "/_proxy/release");
  if (r.status != 200) throw std::runtime_error("cut proxy: HTTP " + std::to_string(r.status) + " " + r.body);
}

bool CutProxy::was_cut() const {
  return nlohmann::json::parse(http_request("GET", endpoint() + "/_proxy/state").body)["cut"].get<bool>();
}

int CutProxy::held() const {
  return nlohmann::json::parse(http_request("GET", endpoint() + "/_proxy/state").body)["held"].get<int>();
}

std::vector<CutProxy::Seen> CutProxy::seen(const std::string& path) const {
  std::vector<Seen> out;
  auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : ""; };
  for (const auto& r : nlohmann::json::parse(http_request("GET", endpoint() + "/_proxy/state").body)["log"])
    if (r["path"].get<std::string>().find(path) != std::string::npos)
      out.push_back({text(r["method"]), text(r["path"]), text(r["range"]), text(r["if_match"]), text(r["if_range"]),
                     text(r.value("status", nlohmann::json()))});
  return out;
}

std::function<std::optional<std::string>(const std::string&)> environment_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string collect_bytes(const std::function<void(haul::sdk::Sink&)>& fetch, const std::string& pinned) {
  std::string got;
  haul_sink s{};
  s.struct_size = sizeof s;
  s.ctx = &got;
  s.write = [](void* ctx, const void* d, size_t n) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(d), n);
    return 0;
  };
  haul::sdk::Sink sink(&s, pinned);
  fetch(sink);
  return got;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) return line;
  return "";
}

size_t count_lines(const fs::path& path) {
  if (!fs::exists(path)) return 0;
  std::string s = read_file(path);
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

bool file_contains(const fs::path& path, const std::string& needle) {
  return fs::exists(path) && read_file(path).find(needle) != std::string::npos;
}

std::string base64_of(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace haul::test
