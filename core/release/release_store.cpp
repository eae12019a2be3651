// SPDX-License-Identifier: Apache-2.0
#include "release/release_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "util/crash_point.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"

namespace haul {
namespace fs = std::filesystem;

namespace {

uint64_t tree_size(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  return total;
}

}  // namespace

ReleaseStore::ReleaseStore(fs::path dest) : dest_(std::move(dest)) {}

std::optional<std::string> ReleaseStore::current_id() const {
  std::error_code ec;
  fs::path target = fs::read_symlink(current_link(), ec);
  if (ec) return std::nullopt;
  return target.filename().string();
}

std::optional<ReleaseMeta> ReleaseStore::meta(const std::string& id) const {
  std::ifstream in(meta_path(id));
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  ReleaseMeta m;
  m.id = id;
  m.created_unix = j.value("created_unix", int64_t{0});
  m.result = j.value("result", "");
  m.size_bytes = j.value("size_bytes", uint64_t{0});
  m.manifest_url = j.value("manifest_url", "");
  m.event_id = j.value("event_id", "");
  m.manifest = j.value("manifest", "");
  // The result lives in its own record, updated in place (see set_result).
  if (std::string r = result_record(id).get(); !r.empty()) m.result = r;
  if (j.contains("files"))
    for (const auto& [path, f] : j["files"].items())
      m.files[path] = {f[0].get<uint64_t>(), f[1].get<unsigned>(), f[2].get<int64_t>(), f[3].get<std::string>()};
  return m;
}

void ReleaseStore::save_meta(const ReleaseMeta& m) const {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [path, f] : m.files) files[path] = {f.size, f.mode, f.mtime, f.sha256};
  nlohmann::json j = {{"id", m.id},           {"created_unix", m.created_unix}, {"result", m.result},
                      {"size_bytes", m.size_bytes}, {"manifest_url", m.manifest_url}, {"event_id", m.event_id},
                      {"manifest", m.manifest}, {"files", files}};
  write_file_durably(meta_path(m.id), j.dump());
  crash_point("release-meta-saved");  // a kill here leaves the metadata without its result record
  result_record(m.id).create(m.result);
}

void ReleaseStore::discard_meta(const std::string& id) const {
  std::error_code ec;
  fs::remove(meta_path(id), ec);
  fs::remove(tree_path(id), ec);
  fs::remove(result_record(id).path(), ec);
}

void ReleaseStore::set_result(const std::string& id, const std::string& result) const {
  result_record(id).set(result);
}

std::vector<ReleaseMeta> ReleaseStore::list() const {
  std::vector<ReleaseMeta> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(releases_dir(), ec)) {
    const std::string id = e.path().filename().string();
    if (id.empty() || id[0] == '.' || !e.is_directory()) continue;
    ReleaseMeta m = meta(id).value_or(ReleaseMeta{});
    m.id = id;
    if (m.result.empty()) m.result = "unknown";
    if (!m.created_unix) {
      struct stat st;
      if (stat(e.path().c_str(), &st) == 0) m.created_unix = st.st_mtime;
    }
    if (!m.size_bytes) m.size_bytes = tree_size(e.path());
    m.files.clear();
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.created_unix, a.id) > std::tie(b.created_unix, b.id);
  });
  return out;
}

fs::path ReleaseStore::new_staging(const std::string& id) const {
  fs::create_directories(releases_dir());
  std::string tmpl = (releases_dir() / (".staging-" + id + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data()))
    throw Error("cannot create a staging folder in " + releases_dir().string() + ": " + std::strerror(errno));
  return tmpl;
}

std::string ReleaseStore::unique_id(const std::string& wanted) const {
  std::string id = wanted;
  for (int n = 2; fs::exists(release_dir(id)); ++n) id = wanted + "-" + std::to_string(n);
  return id;
}

fs::path ReleaseStore::commit(const fs::path& staging, const std::string& id) const {
  const fs::path dir = release_dir(id);
  if (rename(staging.c_str(), dir.c_str()) != 0)
    throw Error("cannot move the staged release to " + dir.string() + ": " + std::strerror(errno));
  fsync_dir(releases_dir());
  return dir;
}

void ReleaseStore::link_shared(const std::string& id, const std::vector<std::string>& dirs,
                               const std::vector<std::string>& files) const {
  const fs::path release = release_dir(id);
  auto link = [&](const std::string& rel, bool is_dir) {
    const fs::path shared = shared_dir() / rel, in_release = release / rel;
    std::error_code ec;
    if (is_dir) {
      fs::create_directories(shared, ec);
    } else if (!fs::exists(shared)) {
      fs::create_directories(shared.parent_path(), ec);
      std::ofstream(shared).close();  // created empty when missing, as capistrano's shared files are
    }
    if (ec) throw Error("cannot create " + shared.string() + ": " + ec.message());
    fs::create_directories(in_release.parent_path(), ec);
    fs::remove_all(in_release, ec);  // what the archive had there is replaced by the shared one
    const fs::path target = shared.lexically_relative(in_release.parent_path());
    fs::create_symlink(target, in_release, ec);
    if (ec) throw Error("cannot link " + in_release.string() + " to " + shared.string() + ": " + ec.message());
  };
  for (const auto& d : dirs) link(d, true);
  for (const auto& f : files) link(f, false);
}

void ReleaseStore::flush(const std::string& id) const {
  int fd = open(release_dir(id).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + release_dir(id).string() + ": " + std::strerror(errno));
  int rc = syncfs(fd);  // the whole release in one call, not a walk of fsyncs
  close(fd);
  if (rc != 0) throw Error("cannot flush " + release_dir(id).string() + " to disk: " + std::strerror(errno));
}

void ReleaseStore::switch_to(const std::string& id) const {
  if (!fs::is_directory(release_dir(id))) throw Error("release " + id + " does not exist in " + releases_dir().string());
  const fs::path tmp = dest_ / (".current.tmp-" + std::to_string(getpid()));
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(fs::path("releases") / id, tmp, ec);
  if (ec) throw Error("cannot create " + tmp.string() + ": " + ec.message());
  if (rename(tmp.c_str(), current_link().c_str()) != 0) {
    int err = errno;
    fs::remove(tmp, ec);
    throw Error("cannot switch " + current_link().string() + " to " + id + ": " + std::strerror(err));
  }
  fsync_dir(dest_);
}

std::optional<std::string> ReleaseStore::previous_good(const std::vector<ReleaseMeta>& newest_first,
                                                       const std::optional<std::string>& current) {
  bool past_current = !current;
  for (const auto& r : newest_first) {
    if (current && r.id == *current) {
      past_current = true;
      continue;
    }
    if (past_current && r.result == "success") return r.id;
  }
  return std::nullopt;
}

std::vector<std::string> ReleaseStore::prune(size_t keep) const {
  auto releases = list();  // newest first
  const auto current = current_id();
  const std::optional<std::string> previous_good = ReleaseStore::previous_good(releases, current);
  auto is_protected = [&](const ReleaseMeta& r) {
    return (current && r.id == *current) || (previous_good && r.id == *previous_good) || r.result == "deploying";
  };
  std::vector<std::string> removed;
  auto remove = [&](const ReleaseMeta& r) {
    remove_release(r.id);
    removed.push_back(r.id);
  };
  size_t count = releases.size();
  // Releases that failed here go first, then those an operator rolled
  // back from, then the good ones; oldest first within each.
  auto rank = [](const ReleaseMeta& r) { return r.result == "success" ? 2 : r.result == "rolled-back" ? 1 : 0; };
  for (int pass = 0; pass < 3 && count > keep; ++pass)
    for (auto it = releases.rbegin(); it != releases.rend() && count > keep; ++it) {
      if (is_protected(*it) || rank(*it) != pass || std::find(removed.begin(), removed.end(), it->id) != removed.end())
        continue;
      remove(*it);
      --count;
    }
  return removed;
}

void ReleaseStore::record_result(const std::string& id, const std::string& result) const {
  const InPlaceRecord record = result_record(id);
  if (record.get().empty())
    record.create(result);
  else
    record.set(result);
}

void ReleaseStore::remove_release(const std::string& id) const {
  // Marked first, deleted second: a kill half-way leaves a release listed
  // as "pruning" (never a rollback target), which the next deploy finishes.
  record_result(id, "pruning");
  std::error_code ec;
  fs::remove_all(release_dir(id), ec);
  if (ec) throw Error("cannot remove release " + release_dir(id).string() + ": " + ec.message());
  fs::remove(meta_path(id), ec);
  fs::remove(tree_path(id), ec);
  fs::remove(result_record(id).path(), ec);
}

std::vector<std::string> ReleaseStore::mark_interrupted() const {
  std::vector<std::string> marked;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(releases_dir(), ec)) {
    const std::string id = e.path().filename().string();
    std::error_code not_dir;
    if (id.empty() || id[0] == '.' || !e.is_directory(not_dir)) continue;
    // The result record alone, not list(): every deploy passes here, and a
    // release's metadata holds its whole file list.
    std::string result = result_record(id).get();
    if (result.empty()) result = meta(id).value_or(ReleaseMeta{}).result;
    if (result != "deploying") continue;
    record_result(id, "interrupted");
    marked.push_back(id);
  }
  std::sort(marked.begin(), marked.end());
  return marked;
}

std::vector<std::string> ReleaseStore::remove_leftovers() const {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& r : list())
    if (r.result == "pruning") {
      remove_release(r.id);
      removed.push_back(release_dir(r.id).string() + " (a release whose pruning was interrupted)");
    }
  for (const auto& e : fs::directory_iterator(releases_dir(), ec))
    if (e.path().filename().string().rfind(".staging-", 0) == 0) {
      fs::remove_all(e.path(), ec);
      removed.push_back(e.path().string());
    }
  // A content record a killed deploy was still writing.
  for (const auto& e : fs::directory_iterator(dest_ / ".haul" / "releases", ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 9 && name.compare(name.size() - 9, 9, ".tree.new") == 0) {
      fs::remove(e.path(), ec);
      removed.push_back(e.path().string());
    }
  }
  // The records of a release with no folder: never committed (a deploy
  // killed after writing them), or pruned past its folder. Nothing lists
  // them, and a release of the same id later would write its own.
  for (const auto& e : fs::directory_iterator(dest_ / ".haul" / "releases", ec)) {
    const std::string name = e.path().filename().string();
    for (const std::string_view kind : {".json", ".result", ".tree"}) {
      if (name.size() <= kind.size() || name.compare(name.size() - kind.size(), kind.size(), kind) != 0) continue;
      std::error_code gone;
      if (fs::exists(release_dir(name.substr(0, name.size() - kind.size())), gone) || gone) break;
      fs::remove(e.path(), gone);
      removed.push_back(e.path().string() + " (a record of a release that has no folder)");
      break;
    }
  }
  for (const auto& e : fs::directory_iterator(dest_, ec))
    if (e.path().filename().string().rfind(".current.tmp-", 0) == 0) {
      fs::remove(e.path(), ec);
      removed.push_back(e.path().string());
    }
  return removed;
}

}  // namespace haul
