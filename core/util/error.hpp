// SPDX-License-Identifier: Apache-2.0
// The one exception type the core throws for user-facing failures. Its
// message is meant for an operator: it names the file, URL, field or entry
// and says what was expected. Its kind is for the code that catches it:
// the few failures a caller handles differently (a transfer to start over,
// a command line to answer with exit 2) are told apart by kind, not by type.
#pragma once

#include <stdexcept>
#include <string>

namespace haul {

class Error : public std::runtime_error {
 public:
  enum class Kind {
    failed,             // what was asked could not be done
    usage,              // the command line itself is wrong: exit 2, not 1
    checksum_mismatch,  // a transfer completed with other bytes than the manifest's checksum
    source_changed,     // the object changed while it was read (a source returned HAUL_RESTART),
                        // or a cut transfer has no pin to resume on: it must start over from byte 0
    permanent,          // missing, or access refused (a source returned HAUL_PERMANENT): waiting will not mend it
  };
  explicit Error(const std::string& message, Kind kind = Kind::failed) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// The kind of an exception: Kind::failed for anything that is not an Error.
inline Error::Kind error_kind(const std::exception& e) {
  const auto* err = dynamic_cast<const Error*>(&e);
  return err ? err->kind() : Error::Kind::failed;
}

inline Error UsageError(const std::string& message) { return Error(message, Error::Kind::usage); }

}  // namespace haul
