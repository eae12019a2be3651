// SPDX-License-Identifier: Apache-2.0
#include "publish/git_export.hpp"

#include <fstream>

#include "extract/extractor.hpp"
#include "util/error.hpp"
#include "util/subprocess.hpp"

namespace haul {

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

GitExport export_git_tree(const std::string& repo, const std::string& ref, const std::filesystem::path& dir) {
  if (ref.empty()) throw Error("--git needs --ref (a branch, tag or commit)");
  GitExport g;
  const auto rev = run_command({"git", "-C", repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}"});
  if (rev.exit_code != 0)
    throw Error("git repository " + repo + " has no commit '" + ref + "'" +
                (rev.err.empty() ? "" : ": " + trimmed(rev.err)));
  g.commit = trimmed(rev.out);
  g.commit_time = std::stoll(trimmed(run_command_ok({"git", "-C", repo, "show", "-s", "--format=%ct", g.commit})));
  const auto tar = dir.parent_path() / (dir.filename().string() + ".git-archive.tar");
  run_command_ok({"git", "-C", repo, "archive", "--format=tar", "-o", tar.string(), g.commit});
  try {
    std::ifstream in(tar, std::ios::binary);
    std::vector<char> buf(1 << 20);
    extract_archive(
        [&]() -> std::pair<const void*, size_t> {
          in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
          return {buf.data(), static_cast<size_t>(in.gcount())};
        },
        dir, "git archive of " + repo + " " + g.commit);
  } catch (...) {
    std::filesystem::remove(tar);
    throw;
  }
  std::filesystem::remove(tar);
  return g;
}

}  // namespace haul
