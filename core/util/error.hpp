// The one exception type the core throws for user-facing failures. Its
// message is meant for an operator: it names the file, URL, field or entry
// and says what was expected.
#pragma once

#include <stdexcept>
#include <string>

namespace haul {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The command line itself is wrong (an unknown flag, a missing argument):
// every command exits 2 for it, 1 for a failure of what it was asked to do.
struct UsageError : Error {
  using Error::Error;
};

}  // namespace haul
