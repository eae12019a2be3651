// SPDX-License-Identifier: Apache-2.0
// `haul pack DIR -o FILE` / `haul pack --git REPO --ref REF -o FILE`: the
// build side's first step, a reproducible tarball (publish/packer.hpp).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/cli_common.hpp"
#include "cli/pack_options.hpp"
#include "util/error.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace haul {

int run_pack(const Args& args) {
  po::options_description desc("haul pack DIR -o FILE | haul pack --git REPO --ref REF -o FILE");
  desc.add_options()
      ("dir", po::value<std::string>(), "the folder to pack (positional)")
      ("output,o", po::value<std::string>(), "the tarball to write (default: <folder name>.<format> here)")
      ("chunked", "write a release index and content-defined chunks instead of a tarball (delta releases)")
      ("chunk-store", po::value<std::string>(), "with --chunked: where chunks go, as chunks/xx/<sha256>.zst "
                                                "(default: the index's folder); chunks already there are not written again");
  add_pack_options(desc);
  desc.add(common_options());
  return run_command(args, desc, {"dir"}, [&](const po::variables_map& vm) {
    PackRequest req = pack_request_from(vm, vm.count("dir") ? vm["dir"].as<std::string>() : "");
    if (vm.count("chunk-store") && !vm.count("chunked")) throw UsageError("--chunk-store goes with --chunked");
    if (vm.count("chunked")) {
      if (!vm["format"].defaulted() || vm.count("level"))
        throw UsageError("--chunked writes zstd chunks and an index, not a tarball: leave out --format and --level");
      req.options.output = vm.count("output") ? fs::path(vm["output"].as<std::string>())
                                              : fs::path(default_pack_output(req)).replace_extension("").replace_extension(".index");
      if (pack_format_of_name(req.options.output.filename().string()))
        throw UsageError("-o " + req.options.output.string() + " names a tarball; --chunked writes an index (e.g. -o app.index)");
      const fs::path dir = req.options.output.has_parent_path() ? req.options.output.parent_path() : fs::path(".");
      const fs::path store = vm.count("chunk-store") ? fs::path(vm["chunk-store"].as<std::string>()) : dir;
      pack_chunked_release(req, store);
      std::cout << req.options.output.string() << "\n";
      return 0;
    }
    if (vm.count("output")) {
      req.options.output = vm["output"].as<std::string>();
      // The name says the format: zstd bytes under a .gz name would fail
      // every reader that trusts the name.
      if (auto named = pack_format_of_name(req.options.output.filename().string())) {
        if (!vm["format"].defaulted() && *named != req.options.format)
          throw Error("-o " + req.options.output.string() + " names a ." + extension(*named) + " file but --format is " +
                      extension(req.options.format) + "; make them agree (or leave --format out: the name decides)");
        req.options.format = *named;
      }
    } else {
      req.options.output = default_pack_output(req);
    }
    PackedArtifact packed = pack(req);
    std::cout << packed.path.string() << "\n";
    return 0;
  });
}

}  // namespace haul
