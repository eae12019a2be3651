// SPDX-License-Identifier: Apache-2.0
// A tiny HTTP/1.1 server on 127.0.0.1 for tests that need a peer whose
// answers the test controls (EC2 instance metadata, container credentials):
// one thread, one request per connection, a handler decides each answer,
// and every request is recorded for assertions.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace haul::test {

struct StubRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct StubResponse {
  StubResponse(int s = 200, std::string b = "", std::map<std::string, std::string> h = {})
      : status(s), body(std::move(b)), headers(std::move(h)) {}
  int status;
  std::string body;
  std::map<std::string, std::string> headers;
};

class HttpStubServer {
 public:
  explicit HttpStubServer(std::function<StubResponse(const StubRequest&)> handler);
  ~HttpStubServer();
  int port() const { return port_; }
  std::string url(const std::string& path = "") const;
  std::vector<StubRequest> requests();

 private:
  void serve();
  std::function<StubResponse(const StubRequest&)> handler_;
  int listen_fd_ = -1, port_ = 0, wake_[2] = {-1, -1};
  std::thread thread_;
  std::mutex mu_;
  std::vector<StubRequest> requests_;
};

}  // namespace haul::test
