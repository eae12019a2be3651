// SPDX-License-Identifier: Apache-2.0
#include "deploy/staging.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include "util/error.hpp"

namespace haul {

StagingFolder::~StagingFolder() {
  std::error_code ec;
  if (!path.empty()) std::filesystem::remove_all(path, ec);
}

void apply_dest_mode(const DeployContext& ctx, const std::filesystem::path& staging) {
  if (chmod(staging.c_str(), ctx.manifest.dest_mode) != 0)
    throw Error("cannot set dest_mode on the staged release " + staging.string() + ": " + std::strerror(errno));
}

TreeRecordMeta tree_record_meta(const DeployContext& ctx, const std::vector<std::string>& rule_lines) {
  TreeRecordMeta meta;
  meta.release = ctx.release_name();
  meta.manifest_url = ctx.request.manifest_url;
  meta.rules = rule_lines;
  meta.linked = ctx.manifest.linked_dirs;
  meta.linked.insert(meta.linked.end(), ctx.manifest.linked_files.begin(), ctx.manifest.linked_files.end());
  return meta;
}

JournalEntry journal_entry(const DeployContext& ctx, const std::string& phase, const std::string& previous) {
  return JournalEntry{phase,
                      ctx.release_id,
                      previous,
                      ctx.request.event_id,
                      ctx.request.manifest_url,
                      static_cast<int>(getpid()),
                      static_cast<int64_t>(std::time(nullptr)),
                      {}};
}

}  // namespace haul
