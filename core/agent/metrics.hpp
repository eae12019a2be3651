// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics of the agent, in the text exposition format:
//   haul_deploys_total{pipeline,result}           counter
//   haul_deploy_duration_seconds{pipeline}        histogram
//   haul_downloaded_bytes_total{pipeline}         counter
//   haul_last_success_timestamp_seconds{pipeline} gauge
//   haul_release_info{pipeline,release}           1 for the release last applied
// served on metrics_listen (GET /metrics, one small thread, 127.0.0.1 by
// default) and/or written atomically to metrics_textfile for
// node_exporter's textfile collector after every deploy.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "util/joining_thread.hpp"

namespace haul {

class Metrics {
 public:
  void record_deploy(const std::string& pipeline, bool ok, double seconds, uint64_t bytes,
                     const std::string& release, int64_t finished_unix);
  std::string render() const;

 private:
  struct PerPipeline {
    std::map<std::string, uint64_t> by_result;
    std::vector<uint64_t> buckets;  // cumulative counts per kBuckets bound
    uint64_t count = 0;
    double sum = 0;
    uint64_t bytes = 0;
    int64_t last_success = 0;
    std::string release;
  };
  mutable std::mutex mu_;
  std::map<std::string, PerPipeline> pipelines_;
};

// "127.0.0.1:9469" or ":9469" (then 127.0.0.1). Throws haul::Error when the
// address cannot be bound.
class MetricsServer {
 public:
  MetricsServer(const std::string& listen, const Metrics& metrics);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  void serve();
  const Metrics& metrics_;
  int fd_ = -1, port_ = 0, wake_[2] = {-1, -1};
  JoiningThread thread_;
};

// Writes the metrics to path atomically (temp file + rename).
void write_metrics_textfile(const std::string& path, const Metrics& metrics);

}  // namespace haul
