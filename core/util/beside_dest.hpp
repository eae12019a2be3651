// SPDX-License-Identifier: Apache-2.0
// Where haul keeps its own files for a dest: beside it, named after it
// (/srv/.haul-app.journal.json), so a sync of dest never sees them. One rule
// for all of them, so "/srv/app/" and "/srv/app" name the same files.
#pragma once

#include <filesystem>
#include <string>

namespace haul {

inline std::filesystem::path beside_dest(const std::filesystem::path& dest, const std::string& what) {
  std::filesystem::path d = dest.lexically_normal();
  if (!d.has_filename() && d.has_parent_path()) d = d.parent_path();  // "/srv/app/" is /srv/app
  return d.parent_path() / (".haul-" + d.filename().string() + "." + what);
}

}  // namespace haul
