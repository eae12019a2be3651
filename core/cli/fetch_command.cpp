// SPDX-License-Identifier: Apache-2.0
// `haul fetch URL [-o FILE] [--checksum HEX]`: download anything a source
// plugin serves (s3://, gs://, http(s)://, file://) with the same retry, resume,
// bandwidth and timeout policy as a deploy — to check credentials and
// reachability from a host, or to pull an artifact by hand. With -o FILE
// the bytes go to a temporary file beside FILE, renamed over it only once
// the transfer ended and the checksum (if given) matched: FILE is the whole
// verified object or untouched, never a cut download. An existing FILE is
// kept unless --force. An object that changed between a cut and the resume
// is fetched again from byte 0 into an emptied temporary file; to stdout,
// where written bytes cannot be taken back, that is an error.
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <iostream>

#include "pipeline/pipeline.hpp"
#include "cli/cli_common.hpp"
#include "cli/deploy_flags.hpp"
#include "cli/shutdown_signals.hpp"
#include "deploy/deploy_engine.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;

namespace haul {

int run_fetch(const Args& args) {
  po::options_description desc("haul fetch URL [-o FILE] [--checksum HEX]");
  desc.add_options()
      ("url", po::value<std::string>(), "what to fetch (positional)")
      ("output,o", po::value<std::string>(), "write here instead of stdout (- for stdout); FILE appears only "
       "once complete and verified")
      ("force", "replace an existing --output FILE")
      ("checksum", po::value<std::string>(), "md5/sha1/sha256/sha512 hex the bytes must match")
      ("config", po::value<std::string>(), "take source settings from this pipeline config")
      ("pipeline", po::value<std::string>(), "which pipeline of --config");
  add_fetch_flags(desc);
  desc.add(common_options());
  return run_command(args, desc, {"url"}, [&](const po::variables_map& vm) {
    if (!vm.count("url")) throw UsageError("haul fetch needs a URL, e.g. haul fetch s3://bucket/app.tgz -o app.tgz");
    StopSignal stop;
    ShutdownSignals signals(stop);
    auto selected = select_pipeline(vm);
    auto pipeline = wire_pipeline(selected);
    const std::string url = vm["url"].as<std::string>();
    const std::string out_path = vm.count("output") ? vm["output"].as<std::string>() : "-";
    std::string checksum = vm.count("checksum") ? vm["checksum"].as<std::string>() : "";
    for (auto& c : checksum) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const char* algo = checksum.size() == 32 ? "md5" : checksum.size() == 40 ? "sha1" : checksum.size() == 128 ? "sha512" : "sha256";
    if (!checksum.empty() && checksum.size() != 32 && checksum.size() != 40 && checksum.size() != 64 && checksum.size() != 128)
      throw Error("--checksum: expected md5, sha1, sha256 or sha512 hex (32, 40, 64 or 128 digits)");
    const bool to_file = out_path != "-";
    if (to_file && !vm.count("force") && std::filesystem::exists(out_path))
      throw Error(out_path + " exists; refusing to overwrite it (--force replaces it)");
    std::string tmp_path;
    FILE* out = stdout;
    if (to_file) {
      const std::filesystem::path target(out_path);
      tmp_path = (target.parent_path() / ("." + target.filename().string() + ".haul-XXXXXX")).string();
      const int fd = mkstemp(tmp_path.data());
      if (fd < 0) throw Error("cannot write " + tmp_path + ": " + std::strerror(errno));
      const mode_t mask = umask(0);
      umask(mask);
      fchmod(fd, 0666 & ~mask);  // as a plain fopen would have made it
      out = fdopen(fd, "wb");
    }
    // Whatever goes wrong, the temporary file goes.
    struct Temporary {
      std::string path;
      ~Temporary() {
        if (!path.empty()) std::remove(path.c_str());
      }
    } temporary{tmp_path};
    // Hash only when asked: the digest costs about as much CPU as the transfer.
    std::optional<Hasher> hasher;
    if (!checksum.empty()) hasher.emplace(algo);
    const FetchPolicy policy = fetch_policy_for(pipeline->deploy);
    DeployLog log("fetch");
    const auto start = std::chrono::steady_clock::now();
    std::function<void()> rewind;
    if (to_file)
      rewind = [&] {
        if (std::fflush(out) != 0 || ftruncate(fileno(out), 0) != 0)
          throw Error("cannot write " + tmp_path + ": " + std::strerror(errno));
        std::rewind(out);
        if (hasher) hasher.emplace(algo);
      };
    FetchOutcome got;
    try {
      got = fetch_stream(pipeline->sources, url, policy, stop, log, [&](const void* d, size_t n) {
        if (hasher) hasher->update(d, n);
        return std::fwrite(d, 1, n, out) == n;
      }, {}, rewind);
    } catch (const Error& e) {
      if (out != stdout) std::fclose(out);
      if (!to_file && e.kind() == Error::Kind::source_changed)
        throw Error(std::string(e.what()) + "; what was written to stdout is void: fetch it again, or with -o FILE, "
                    "which starts over by itself", e.kind());
      throw;
    } catch (...) {
      if (out != stdout) std::fclose(out);
      throw;
    }
    const bool flushed = out == stdout || (std::fflush(out) == 0 && fsync(fileno(out)) == 0);
    const int write_errno = errno;
    if (out != stdout && (std::fclose(out) != 0 || !flushed))
      throw Error("cannot write " + tmp_path + ": " + std::strerror(write_errno));
    if (got.stopped_by_consumer) throw Error("cannot write " + (to_file ? tmp_path : out_path) + ": " + std::strerror(errno));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string sum = hasher ? hasher->hex_digest() : "";
    spdlog::info("{}: {} in {:.2f}s ({}/s){}", url, format_bytes(got.bytes), secs,
                 format_bytes(static_cast<uint64_t>(static_cast<double>(got.bytes) / std::max(secs, 1e-6))),
                 hasher ? std::string(", ") + algo + " " + sum : "");
    if (hasher && checksum != sum) {
      spdlog::error("checksum mismatch for {}: expected {}, got {}{}", url, checksum, sum,
                    to_file ? "; " + out_path + " left as it was" : "");
      return 1;
    }
    if (to_file) {
      if (std::rename(tmp_path.c_str(), out_path.c_str()) != 0)
        throw Error("cannot replace " + out_path + ": " + std::strerror(errno));
      temporary.path.clear();
    }
    return 0;
  });
}

}  // namespace haul
