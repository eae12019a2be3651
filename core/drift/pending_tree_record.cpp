#include "drift/pending_tree_record.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "util/durable_file.hpp"
#include "util/error.hpp"

namespace haul {

PendingTreeRecord::PendingTreeRecord(std::filesystem::path record)
    : record_(std::move(record)), pending_(record_.string() + ".new") {}

PendingTreeRecord::~PendingTreeRecord() {
  if (!written_) return;
  std::error_code ec;
  std::filesystem::remove(pending_, ec);
}

void PendingTreeRecord::write(const TreeRecord& tree) {
  write_file_durably(pending_, tree.serialize());
  written_ = true;
}

void PendingTreeRecord::commit() {
  if (!written_) return;
  if (std::rename(pending_.c_str(), record_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(record_, ec);  // the old record no longer describes dest
    throw Error("cannot put the content record " + record_.string() + " in place: " + why);
  }
  written_ = false;
  fsync_dir(record_.parent_path());
}

}  // namespace haul
