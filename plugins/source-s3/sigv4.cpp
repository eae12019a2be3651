// SPDX-License-Identifier: Apache-2.0
#include "sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace haul::s3 {
namespace {

std::string hex(const unsigned char* data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < len; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Trims and folds runs of whitespace (including folded lines) into one space.
std::string canonical_value(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

std::string hmac_sha256(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string uri_encode(const std::string& s, bool keep_slash) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::string normalize_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    std::string seg = path.substr(pos, slash - pos);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    pos = slash + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  bool trailing = !path.empty() && path.back() == '/';
  if (out.empty()) return "/";
  if (trailing) out += "/";
  return out;
}

std::string amz_date_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Signature sign(const SigningRequest& req, const SigningParams& p) {
  Signature sig;
  HeaderList headers = req.headers;
  sig.added_headers.emplace_back("X-Amz-Date", p.amz_date);
  if (p.add_content_sha256) sig.added_headers.emplace_back("x-amz-content-sha256", req.payload_hash);
  if (!p.session_token.empty() && p.sign_session_token)
    sig.added_headers.emplace_back("X-Amz-Security-Token", p.session_token);
  headers.insert(headers.end(), sig.added_headers.begin(), sig.added_headers.end());

  // Headers: lower-case names, sorted; repeated names joined with ',' in order.
  std::map<std::string, std::string> canon;
  for (const auto& [name, value] : headers) {
    std::string key = lower(name);
    std::string v = canonical_value(value);
    auto it = canon.find(key);
    if (it == canon.end()) canon.emplace(key, v);
    else it->second += "," + v;
  }
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : canon) {
    canonical_headers += k + ":" + v + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }

  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [k, v] : req.query) query.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [k, v] : query) canonical_query += (canonical_query.empty() ? "" : "&") + k + "=" + v;

  std::string path = req.path.empty() ? "/" : req.path;
  if (p.normalize_path) path = normalize_path(path);
  sig.canonical_request = req.method + "\n" + uri_encode(path, true) + "\n" + canonical_query + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + req.payload_hash;

  const std::string date = p.amz_date.substr(0, 8);
  const std::string scope = date + "/" + p.region + "/" + p.service + "/aws4_request";
  sig.string_to_sign = "AWS4-HMAC-SHA256\n" + p.amz_date + "\n" + scope + "\n" + sha256_hex(sig.canonical_request);

  std::string key = hmac_sha256("AWS4" + p.secret_access_key, date);
  key = hmac_sha256(key, p.region);
  key = hmac_sha256(key, p.service);
  key = hmac_sha256(key, "aws4_request");
  std::string raw = hmac_sha256(key, sig.string_to_sign);
  sig.signature = hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + p.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + sig.signature;
  if (!p.session_token.empty() && !p.sign_session_token)
    sig.added_headers.emplace_back("X-Amz-Security-Token", p.session_token);
  return sig;
}

}  // namespace haul::s3
