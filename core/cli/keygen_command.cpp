// SPDX-License-Identifier: Apache-2.0
// `haul keygen [-o NAME]`: an Ed25519 key pair for signed releases. NAME.key
// (private, 0600, for the build server's `haul publish --sign`) and NAME.pub
// (for every agent's trusted_keys). Never overwrites a key.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/cli_common.hpp"
#include "signing/ed25519.hpp"
#include "util/error.hpp"

namespace po = boost::program_options;

namespace haul {

namespace {

void write_new(const std::string& path, const std::string& text, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    throw Error("cannot create " + path + ": " + std::strerror(errno) +
                (errno == EEXIST ? " (haul keygen never overwrites a key; choose another -o NAME)" : ""));
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!ok) throw Error("cannot write " + path);
}

}  // namespace

int run_keygen(const Args& args) {
  po::options_description desc("haul keygen [-o NAME]  (writes NAME.key and NAME.pub)");
  desc.add_options()("output,o", po::value<std::string>()->default_value("haul-release"), "path and name of the pair, without extension");
  desc.add(common_options());
  return run_command(args, desc, {}, [&](const po::variables_map& vm) {
    const std::string base = vm["output"].as<std::string>();
    Ed25519Key key = Ed25519Key::generate();
    if (access((base + ".pub").c_str(), F_OK) == 0)
      throw Error("cannot create " + base + ".pub: it exists (haul keygen never overwrites a key; choose another -o NAME)");
    write_new(base + ".key", key.private_pem(), 0600);
    write_new(base + ".pub", key.public_pem(), 0644);
    std::cout << "key " << key.id() << "\n  private: " << base << ".key  (keep it on the build server: haul publish --sign "
              << base << ".key)\n  public:  " << base << ".pub  (give it to every agent: deploy.trusted_keys)\n";
    return 0;
  });
}

}  // namespace haul
