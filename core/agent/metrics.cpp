// SPDX-License-Identifier: Apache-2.0
#include "agent/metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.hpp"

namespace haul {
namespace {

const double kBuckets[] = {1, 5, 10, 30, 60, 120, 300, 600, 1800};

std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

void Metrics::record_deploy(const std::string& pipeline, bool ok, double seconds, uint64_t bytes,
                            const std::string& release, int64_t finished_unix) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& p = pipelines_[pipeline];
  if (p.buckets.empty()) p.buckets.assign(std::size(kBuckets), 0);
  ++p.by_result[ok ? "success" : "failure"];
  for (size_t i = 0; i < std::size(kBuckets); ++i)
    if (seconds <= kBuckets[i]) ++p.buckets[i];
  ++p.count;
  p.sum += seconds;
  p.bytes += bytes;
  if (ok) {
    p.last_success = finished_unix;
    p.release = release;
  }
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP haul_deploys_total Deploys finished, by pipeline and result.\n# TYPE haul_deploys_total counter\n";
  for (const auto& [name, p] : pipelines_)
    for (const char* result : {"success", "failure"}) {
      auto it = p.by_result.find(result);
      o << "haul_deploys_total{pipeline=\"" << label(name) << "\",result=\"" << result << "\"} "
        << (it == p.by_result.end() ? 0 : it->second) << "\n";
    }
  o << "# HELP haul_deploy_duration_seconds Time from event to the end of a deploy.\n"
       "# TYPE haul_deploy_duration_seconds histogram\n";
  for (const auto& [name, p] : pipelines_) {
    for (size_t i = 0; i < std::size(kBuckets); ++i)
      o << "haul_deploy_duration_seconds_bucket{pipeline=\"" << label(name) << "\",le=\"" << num(kBuckets[i]) << "\"} "
        << p.buckets[i] << "\n";
    o << "haul_deploy_duration_seconds_bucket{pipeline=\"" << label(name) << "\",le=\"+Inf\"} " << p.count << "\n"
      << "haul_deploy_duration_seconds_sum{pipeline=\"" << label(name) << "\"} " << num(p.sum) << "\n"
      << "haul_deploy_duration_seconds_count{pipeline=\"" << label(name) << "\"} " << p.count << "\n";
  }
  o << "# HELP haul_downloaded_bytes_total Artifact bytes downloaded.\n# TYPE haul_downloaded_bytes_total counter\n";
  for (const auto& [name, p] : pipelines_) o << "haul_downloaded_bytes_total{pipeline=\"" << label(name) << "\"} " << p.bytes << "\n";
  o << "# HELP haul_last_success_timestamp_seconds End of the last successful deploy.\n"
       "# TYPE haul_last_success_timestamp_seconds gauge\n";
  for (const auto& [name, p] : pipelines_)
    o << "haul_last_success_timestamp_seconds{pipeline=\"" << label(name) << "\"} " << p.last_success << "\n";
  o << "# HELP haul_release_info The release last deployed successfully.\n# TYPE haul_release_info gauge\n";
  for (const auto& [name, p] : pipelines_)
    if (!p.release.empty())
      o << "haul_release_info{pipeline=\"" << label(name) << "\",release=\"" << label(p.release) << "\"} 1\n";
  return o.str();
}

MetricsServer::MetricsServer(const std::string& listen, const Metrics& metrics) : metrics_(metrics) {
  size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  if (host.empty()) host = "127.0.0.1";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (port.empty() || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    throw Error("metrics_listen: expected HOST:PORT with an IPv4 host, like 127.0.0.1:9469; got '" + listen + "'");
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0) {
    std::string why = std::strerror(errno);
    close(fd_);
    throw Error("metrics_listen: cannot listen on " + listen + ": " + why);
  }
  socklen_t len = sizeof addr;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (pipe(wake_) != 0) throw Error("metrics: pipe failed");
  thread_ = JoiningThread([this] { serve(); });
}

MetricsServer::~MetricsServer() {
  char c = 0;
  (void)!write(wake_[1], &c, 1);
  thread_.join();
  close(fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void MetricsServer::serve() {
  while (true) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};  // a client that never sends its request does not hold the thread
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[2048];
    ssize_t n = recv(c, buf, sizeof buf - 1, 0);
    std::string req = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    std::string status = "200 OK", body;
    if (req.rfind("GET /metrics", 0) == 0) body = metrics_.render();
    else {
      status = "404 Not Found";
      body = "haul serves GET /metrics\n";
    }
    std::string out = "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    (void)!send(c, out.data(), out.size(), MSG_NOSIGNAL);
    close(c);
  }
}

void write_metrics_textfile(const std::string& path, const Metrics& metrics) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << metrics.render();
    if (!out) throw Error("metrics_textfile: cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error("metrics_textfile: cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace haul
