// SPDX-License-Identifier: Apache-2.0
#include "net/consul_api.hpp"

#include <openssl/evp.h>

#include <cstdlib>
#include <stdexcept>

namespace haul::net {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

ConsulSettings consul_settings_from_env(ConsulSettings s) {
  if (s.address.empty()) s.address = env("CONSUL_HTTP_ADDR");
  if (s.address.empty()) s.address = "127.0.0.1:8500";
  if (s.address.find("://") == std::string::npos) {
    std::string ssl = env("CONSUL_HTTP_SSL");
    s.address = (ssl == "true" || ssl == "1" ? "https://" : "http://") + s.address;
  }
  while (!s.address.empty() && s.address.back() == '/') s.address.pop_back();
  if (s.token.empty()) s.token = env("CONSUL_HTTP_TOKEN");
  if (s.ca_file.empty()) s.ca_file = env("CONSUL_CACERT");
  if (s.cert_file.empty()) s.cert_file = env("CONSUL_CLIENT_CERT");
  if (s.key_file.empty()) s.key_file = env("CONSUL_CLIENT_KEY");
  return s;
}

ConsulSettings consul_settings_from_config(const haul::sdk::Config& cfg) {
  ConsulSettings s;
  s.address = cfg.str("address");
  s.token = cfg.str("token");
  s.datacenter = cfg.str("datacenter");
  s.ca_file = cfg.str("ca_file");
  s.cert_file = cfg.str("cert_file");
  s.key_file = cfg.str("key_file");
  s.insecure = cfg.boolean("insecure_skip_verify");
  return consul_settings_from_env(s);
}

std::string url_encode_component(const std::string& s) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += {'%', digits[c >> 4], digits[c & 15]};
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  std::string out((in.size() / 4 + 1) * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0 || in.size() % 4 != 0) throw std::runtime_error("not valid base64");
  size_t pad = (!in.empty() && in.back() == '=') + (in.size() > 1 && in[in.size() - 2] == '=');
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string base64_encode(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

HttpResponse ConsulApi::call(const std::string& method, const std::string& path, const std::string& body,
                             std::chrono::milliseconds timeout, std::function<bool()> cancelled) const {
  HttpRequest req;
  req.method = method;
  req.url = s_.address + path;
  if (!s_.datacenter.empty())
    req.url += (path.find('?') == std::string::npos ? "?dc=" : "&dc=") + url_encode_component(s_.datacenter);
  if (!s_.token.empty()) req.headers.emplace_back("X-Consul-Token", s_.token);
  req.body = body;
  req.timeout = timeout;
  req.connect_timeout = std::chrono::seconds(5);
  req.ca_file = s_.ca_file;
  req.cert_file = s_.cert_file;
  req.key_file = s_.key_file;
  req.insecure = s_.insecure;
  req.cancelled = std::move(cancelled);
  return http_call(req);
}

HttpResponse ConsulApi::call_ok(const std::string& method, const std::string& path, const std::string& body,
                                std::chrono::milliseconds timeout) const {
  HttpResponse r = call(method, path, body, timeout);
  if (r.status == 403)
    throw std::runtime_error(method + " " + s_.address + path + ": HTTP 403 (the ACL token lacks a permission): " + r.body);
  if (r.status != 200)
    throw std::runtime_error(method + " " + s_.address + path + ": HTTP " + std::to_string(r.status) + ": " + r.body);
  return r;
}

}  // namespace haul::net
