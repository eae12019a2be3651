// SPDX-License-Identifier: Apache-2.0
#include "util/crash_point.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace haul {

void crash_point(const char* name) {
  static const char* const at = std::getenv("HAUL_TEST_CRASH_AT");
  if (at && std::strcmp(at, name) == 0) kill(getpid(), SIGKILL);
}

}  // namespace haul
