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
      ("output,o", po::value<std::string>(), "the tarball to write (default: <folder name>.<format> here)");
  add_pack_options(desc);
  desc.add(common_options());
  return run_command(args, desc, {"dir"}, [&](const po::variables_map& vm) {
    PackRequest req = pack_request_from(vm, vm.count("dir") ? vm["dir"].as<std::string>() : "");
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
