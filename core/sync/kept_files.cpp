// SPDX-License-Identifier: Apache-2.0
#include "sync/kept_files.hpp"

#include <algorithm>


namespace haul {

void KeptFiles::add(std::string_view rel, const struct timespec& mtime) {
  items_.push_back({paths_.add(rel), mtime});
}

void KeptFiles::add_with_attributes(std::string_view rel, const struct stat& want) {
  add(rel, want.st_mtim);
  attributes_.emplace(std::string(rel), want);
}

const KeptFiles::Item* KeptFiles::find(std::string_view rel) const {
  auto less = [this](const Item& a, const Item& b) { return path_of(a) < path_of(b); };
  if (sorted_ != items_.size()) {
    const auto middle = items_.begin() + static_cast<std::ptrdiff_t>(sorted_);
    std::sort(middle, items_.end(), less);
    std::inplace_merge(items_.begin(), middle, items_.end(), less);
    sorted_ = items_.size();
  }
  auto it = std::lower_bound(items_.begin(), items_.end(), rel,
                             [this](const Item& a, std::string_view b) { return path_of(a) < b; });
  return it != items_.end() && path_of(*it) == rel ? &*it : nullptr;
}

const struct timespec* KeptFiles::mtime(std::string_view rel) const {
  const Item* item = find(rel);
  return item ? &item->mtime : nullptr;
}

const struct stat* KeptFiles::attributes(std::string_view rel) const {
  if (attributes_.empty()) return nullptr;
  auto it = attributes_.find(rel);
  return it != attributes_.end() ? &it->second : nullptr;
}

void KeptFiles::clear() {
  paths_.clear();
  items_.clear();
  sorted_ = 0;
  attributes_.clear();
}

}  // namespace haul
