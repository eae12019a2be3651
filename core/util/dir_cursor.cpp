// SPDX-License-Identifier: Apache-2.0
#include "util/dir_cursor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.hpp"

namespace haul {
namespace {

constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

}  // namespace

DirCursor::DirCursor(const std::filesystem::path& root, bool create_missing)
    : root_path_(root), create_missing_(create_missing) {
  root_ = open(root.c_str(), kDirFlags);
  if (root_ < 0 && (create_missing || errno != ENOENT))
    throw Error("cannot open folder " + root.string() + ": " + std::strerror(errno));
}

DirCursor::~DirCursor() {
  pop_to(0);
  if (root_ >= 0) close(root_);
}

void DirCursor::pop_to(size_t depth) {
  while (open_.size() > depth) {
    close(open_.back().second);
    open_.pop_back();
  }
}

std::pair<std::string_view, std::string_view> DirCursor::split(std::string_view rel) {
  const size_t slash = rel.rfind('/');
  if (slash == std::string_view::npos) return {{}, rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

int DirCursor::at(std::string_view rel_dir) {
  if (root_ < 0) {
    errno = ENOENT;
    return -1;
  }
  if (!missing_.empty() && rel_dir.substr(0, missing_.size()) == missing_ &&
      (rel_dir.size() == missing_.size() || rel_dir[missing_.size()] == '/')) {
    errno = missing_errno_;
    return -1;
  }
  // Keep the folders the new path shares with the one open now; open the rest.
  size_t depth = 0;
  for (size_t pos = 0; pos < rel_dir.size(); ++depth) {
    size_t slash = rel_dir.find('/', pos);
    if (slash == std::string_view::npos) slash = rel_dir.size();
    const std::string_view part = rel_dir.substr(pos, slash - pos);
    pos = slash + 1;
    if (depth < open_.size() && open_[depth].first == part) continue;
    pop_to(depth);
    std::string name(part);
    const int parent = open_.empty() ? root_ : open_.back().second;
    int fd = openat(parent, name.c_str(), kDirFlags);
    if (fd < 0 && errno == ENOENT && create_missing_) {
      if (mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST)
        throw Error("cannot create folder " + (root_path_ / rel_dir.substr(0, slash)).string() + ": " +
                    std::strerror(errno));
      fd = openat(parent, name.c_str(), kDirFlags);
    }
    if (fd < 0) {
      if (!create_missing_) {
        missing_errno_ = errno;
        missing_.assign(rel_dir.substr(0, slash));
        errno = missing_errno_;
      }
      return -1;
    }
    open_.emplace_back(std::move(name), fd);
  }
  pop_to(depth);
  return open_.empty() ? root_ : open_.back().second;
}

}  // namespace haul
