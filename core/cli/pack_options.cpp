// SPDX-License-Identifier: Apache-2.0
#include "cli/pack_options.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "publish/git_export.hpp"
#include "util/error.hpp"
#include "util/scratch_dir.hpp"
#include "util/units.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace haul {

void add_pack_options(po::options_description& desc) {
  desc.add_options()
      ("git", po::value<std::string>(), "pack a commit of this git repository instead of a folder")
      ("ref", po::value<std::string>(), "with --git: the branch, tag or commit (writes REVISION)")
      ("format", po::value<std::string>()->default_value("tar.gz"), "tar.gz, tar.zst or tar")
      ("level", po::value<int>(), "compression level (gzip 0-9, zstd 1-22)")
      ("exclude", po::value<std::vector<std::string>>()->composing(), "rsync-style pattern to leave out (repeatable)")
      ("no-haulignore", "do not read the tree's .haulignore")
      ("mtime", po::value<std::string>(), "set every mtime to TIME (unix seconds, @secs, 2026-11-26[T10:00:00Z])")
      ("clamp-mtime", "with --mtime: only lower mtimes newer than TIME");
}

PackRequest pack_request_from(const po::variables_map& vm, const std::string& dir) {
  PackRequest r;
  r.dir = dir;
  if (vm.count("git")) r.git_repo = vm["git"].as<std::string>();
  if (vm.count("ref")) r.git_ref = vm["ref"].as<std::string>();
  if (!r.git_repo.empty() && !r.dir.empty()) throw Error("give a folder or --git REPO, not both");
  if (r.git_repo.empty() && r.dir.empty())
    throw UsageError("haul pack needs a folder (haul pack ./app) or --git REPO --ref REF");
  if (!r.git_ref.empty() && r.git_repo.empty()) throw Error("--ref needs --git REPO");
  if (!r.git_repo.empty() && r.git_ref.empty()) throw Error("--git needs --ref (a branch, tag or commit)");
  auto& o = r.options;
  o.format = parse_pack_format(vm["format"].as<std::string>());
  if (vm.count("level")) o.level = vm["level"].as<int>();
  if (vm.count("exclude")) o.excludes = vm["exclude"].as<std::vector<std::string>>();
  o.read_haulignore = !vm.count("no-haulignore");
  o.clamp_mtime = vm.count("clamp-mtime") != 0;
  if (vm.count("mtime")) {
    o.mtime = parse_timestamp(vm["mtime"].as<std::string>());
    if (!o.mtime)
      throw Error("--mtime: cannot read '" + vm["mtime"].as<std::string>() +
                  "'; expected unix seconds, @seconds, 2026-11-26 or 2026-11-26T10:00:00Z");
  } else if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) {
    // The reproducible-builds convention: clamp to the source's date.
    o.mtime = parse_timestamp(sde);
    if (!o.mtime) throw Error(std::string("SOURCE_DATE_EPOCH: expected unix seconds, got '") + sde + "'");
    o.clamp_mtime = true;
  }
  return r;
}

fs::path default_pack_output(const PackRequest& req) {
  std::string name = req.git_repo.empty() ? fs::absolute(req.dir).lexically_normal().filename().string()
                                          : fs::absolute(req.git_repo).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(req.dir).lexically_normal().parent_path().filename().string();
  if (name.empty()) name = "release";
  return name + "." + extension(req.options.format);
}

namespace {

// One line, rewritten in place, when stderr is a terminal.
class ProgressLine {
 public:
  ProgressLine() : tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}
  void update(uint64_t in, uint64_t out) {
    if (!tty_) return;
    const double secs = std::max(1e-3, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    std::fprintf(stderr, "\r  packed %s → %s  %s/s   ", format_bytes(in).c_str(), format_bytes(out).c_str(),
                 format_bytes(static_cast<uint64_t>(static_cast<double>(in) / secs)).c_str());
    drawn_ = true;
  }
  ~ProgressLine() {
    if (drawn_) std::fputs("\n", stderr);
  }

 private:
  bool tty_, drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

namespace {

// A git source becomes a folder of the commit's tree (and REVISION), in a
// scratch folder that lives as long as s.
struct PackSource {
  std::optional<ScratchDir> scratch;
  std::string revision;
  int64_t commit_time = 0;
};

void prepare_source(PackRequest& req, PackSource& s) {
  if (!req.git_repo.empty()) {
    s.scratch.emplace("haul-pack-git");
    fs::create_directory(s.scratch->path() / "tree");
    GitExport g = export_git_tree(req.git_repo, req.git_ref, s.scratch->path() / "tree");
    s.revision = g.commit;
    s.commit_time = g.commit_time;
    req.options.source = s.scratch->path() / "tree";
    req.options.extra_files.push_back({"REVISION", g.commit + "\n"});
    if (!req.options.mtime) req.options.mtime = g.commit_time;  // same commit, same bytes
  } else {
    req.options.source = req.dir;
  }
}

}  // namespace

PackedArtifact pack(PackRequest req) {
  PackedArtifact a;
  a.path = req.options.output;
  PackSource source;
  prepare_source(req, source);
  a.revision = source.revision;
  a.commit_time = source.commit_time;
  const auto start = std::chrono::steady_clock::now();
  {
    ProgressLine line;
    req.options.progress = [&](uint64_t in, uint64_t out) { line.update(in, out); };
    a.result = pack_tree(req.options);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& s : a.result.skipped) spdlog::warn("not packed: {} is not a file, folder or symlink", s);
  spdlog::info("packed {} files ({}) into {} ({}, {:.2f}s){}, sha256 {}", a.result.files,
               format_bytes(a.result.bytes_in), a.path.string(), format_bytes(a.result.bytes_out), secs,
               a.revision.empty() ? "" : ", revision " + a.revision.substr(0, 12), a.result.sha256);
  return a;
}

PackedArtifact pack_chunked_release(PackRequest req, const fs::path& store) {
  PackSource source;
  prepare_source(req, source);
  const auto start = std::chrono::steady_clock::now();
  ChunkedPackResult r;
  {
    ProgressLine line;
    req.options.progress = [&](uint64_t in, uint64_t out) { line.update(in, out); };
    r = pack_chunked(req.options, store);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& s : r.tree.skipped) spdlog::warn("not packed: {} is not a file, folder or symlink", s);
  spdlog::info("packed {} files ({}) into {} (index {}, {:.2f}s){}, sha256 {}; {} chunks ({}), {} new in {} ({})",
               r.tree.files, format_bytes(r.tree.bytes_in), req.options.output.string(), format_bytes(r.tree.bytes_out),
               secs, source.revision.empty() ? "" : ", revision " + source.revision.substr(0, 12), r.tree.sha256,
               r.chunks, format_bytes(r.chunk_bytes), r.new_chunks, store.string(), format_bytes(r.new_chunk_bytes));
  return {req.options.output, r.tree, source.revision, 0};
}

}  // namespace haul
