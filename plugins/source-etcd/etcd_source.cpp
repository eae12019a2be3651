// SPDX-License-Identifier: Apache-2.0
// Source "etcd": `etcd://KEY` reads (and, for `haul publish --manifests
// etcd://PREFIX`, writes) a small object kept in etcd — manifests, their
// signatures, desired-release pointers — so a fleet on etcd needs no other
// store for them. Artifacts belong in s3/gs/http: etcd refuses values over
// its request limit (1.5 MiB by default), and this source says so first.
// A read is pinned to the key's mod_revision, so a resume never splices two
// values; a missing key is permanent (not waited for).
#include <haul/sdk.hpp>

#include <fstream>
#include <sstream>

#include "net/etcd_api.hpp"

namespace {

using namespace haul::net;

constexpr size_t kMaxValue = 1536 * 1024;  // etcd's default --max-request-bytes

const haul_config_field kFields[] = {
    HAUL_ETCD_CONNECTION_FIELDS,
    {nullptr, nullptr, nullptr, nullptr, 0},
};

const char* const kSchemes[] = {"etcd", nullptr};

std::string key_of(const std::string& url) {
  const std::string key = url.rfind("etcd://", 0) == 0 ? url.substr(7) : url;
  if (key.empty() || key.back() == '/')
    throw std::runtime_error(url + ": expected etcd://KEY, e.g. etcd://haul/releases/web/latest_web_production.yml");
  return key;
}

class EtcdSource {
 public:
  EtcdSource(const haul::sdk::Config& cfg, const haul::sdk::Host&) : api_(etcd_settings_from_config(cfg)) {}

  void fetch(const std::string& url, uint64_t offset, haul::sdk::Sink& sink) {
    const std::string key = key_of(url);
    const auto kvs = api_.range(key, false);
    if (kvs.empty()) throw haul::sdk::PermanentError(url + ": no such key in etcd at " + api_.endpoint());
    const std::string& value = kvs.front().value;
    sink.pin("mod_revision " + std::to_string(kvs.front().mod_revision), url + ": the key's value");
    sink.set_total_size(value.size());
    if (offset < value.size()) sink.write(value.data() + offset, value.size() - offset);
  }

  void store(const std::string& url, const std::string& path, const std::string&) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot read the file to store at " + url);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string value = bytes.str();
    if (value.size() > kMaxValue)
      throw std::runtime_error(url + ": " + std::to_string(value.size()) +
                               " bytes is over what etcd takes in one value (1.5 MiB by default): keep artifacts in "
                               "s3://, gs:// or http://, and manifests and pointers in etcd");
    api_.put(key_of(url), value);  // one put: a reader sees the old value or the new one
  }

 private:
  EtcdApi api_;
};

}  // namespace

HAUL_SOURCE_PLUGIN(EtcdSource, "etcd", "1.0.0",
                   "etcd://KEY: manifests, signatures and desired-release pointers kept in etcd (read and store)",
                   kFields, kSchemes)
