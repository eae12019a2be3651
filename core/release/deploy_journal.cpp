#include "release/deploy_journal.hpp"

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.hpp"

namespace haul {

std::optional<JournalEntry> DeployJournal::read() const {
  std::ifstream in(path_);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return JournalEntry{"unknown (unreadable journal)", "", "", "", "", 0, 0};
  return JournalEntry{j.value("phase", ""), j.value("release", ""),      j.value("previous", ""),
                      j.value("event_id", ""), j.value("manifest_url", ""), j.value("pid", 0),
                      j.value("started_unix", int64_t{0})};
}

void DeployJournal::write(const JournalEntry& e) const {
  nlohmann::json j = {{"phase", e.phase},       {"release", e.release},           {"previous", e.previous},
                      {"event_id", e.event_id}, {"manifest_url", e.manifest_url}, {"pid", e.pid},
                      {"started_unix", e.started_unix}};
  std::filesystem::create_directories(path_.parent_path());
  const std::string tmp = path_.string() + ".tmp", text = j.dump();
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path_.c_str()) != 0) throw Error("cannot write " + path_.string() + ": " + std::strerror(errno));
}

void DeployJournal::clear() const {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

}  // namespace haul
