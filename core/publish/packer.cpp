// SPDX-License-Identifier: Apache-2.0
#include "publish/packer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include "publish/pack_tree_walk.hpp"
#include "util/digest.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;

namespace haul {

PackFormat parse_pack_format(const std::string& name) {
  if (name == "tar.gz" || name == "tgz") return PackFormat::tar_gz;
  if (name == "tar.zst" || name == "tzst") return PackFormat::tar_zst;
  if (name == "tar") return PackFormat::tar;
  throw Error("--format: unknown format '" + name + "'; expected tar.gz, tar.zst or tar");
}

std::optional<PackFormat> pack_format_of_name(const std::string& name) {
  auto ends = [&](const std::string& suffix) {
    return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".tar.gz") || ends(".tgz")) return PackFormat::tar_gz;
  if (ends(".tar.zst") || ends(".tzst")) return PackFormat::tar_zst;
  if (ends(".tar")) return PackFormat::tar;
  return std::nullopt;
}

const char* extension(PackFormat f) {
  switch (f) {
    case PackFormat::tar_gz: return "tar.gz";
    case PackFormat::tar_zst: return "tar.zst";
    case PackFormat::tar: return "tar";
  }
  return "tar";
}

namespace {

struct Output {
  FILE* file = nullptr;
  Hasher hasher{"sha256"};
  uint64_t bytes = 0;
  std::string path;
  int error = 0;
};

la_ssize_t write_cb(struct archive*, void* ctx, const void* buf, size_t n) {
  auto* out = static_cast<Output*>(ctx);
  if (std::fwrite(buf, 1, n, out->file) != n) {
    out->error = errno ? errno : EIO;
    return -1;
  }
  out->hasher.update(buf, n);
  out->bytes += n;
  return static_cast<la_ssize_t>(n);
}

void check(struct archive* a, int rc, const std::string& what) {
  if (rc < ARCHIVE_WARN) throw Error(what + ": " + (archive_error_string(a) ? archive_error_string(a) : "libarchive error"));
}

}  // namespace

PackResult pack_tree(const PackOptions& o) {
  if (o.output.empty()) throw Error("haul pack needs an output file (-o FILE)");
  PackResult result;
  PackTree tree = walk_pack_tree(o);
  result.skipped = std::move(tree.skipped);
  const std::vector<PackEntry>& entries = tree.entries;

  const fs::path out_dir = o.output.has_parent_path() ? o.output.parent_path() : fs::path(".");
  std::mt19937_64 rng(std::random_device{}());
  const fs::path tmp = out_dir / ("." + o.output.filename().string() + ".tmp-" + std::to_string(rng() % 1000000007));
  Output out;
  out.path = tmp.string();
  out.file = std::fopen(out.path.c_str(), "wbx");
  if (!out.file) throw Error("cannot create " + out.path + ": " + std::strerror(errno));

  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_write_new(), archive_write_free);
  try {
    check(a.get(), archive_write_set_format_pax_restricted(a.get()), "tar format");
    const std::string level = o.level >= 0 ? std::to_string(o.level) : "";
    if (o.format == PackFormat::tar_gz) {
      check(a.get(), archive_write_add_filter_gzip(a.get()), "gzip");
      check(a.get(), archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr), "gzip timestamp");
      if (!level.empty())
        check(a.get(), archive_write_set_filter_option(a.get(), "gzip", "compression-level", level.c_str()),
              "--level " + level + " for gzip (expected 0-9)");
    } else if (o.format == PackFormat::tar_zst) {
      check(a.get(), archive_write_add_filter_zstd(a.get()), "zstd");
      if (!level.empty())
        check(a.get(), archive_write_set_filter_option(a.get(), "zstd", "compression-level", level.c_str()),
              "--level " + level + " for zstd (expected 1-22)");
    }
    archive_write_set_bytes_in_last_block(a.get(), 1);
    check(a.get(), archive_write_open2(a.get(), &out, nullptr, write_cb, nullptr, nullptr), "open " + out.path);

    std::map<std::pair<dev_t, ino_t>, std::string> first_link;
    std::vector<char> buf(1 << 20);
    uint64_t last_progress = 0;
    for (const auto& e : entries) {
      std::unique_ptr<archive_entry, void (*)(archive_entry*)> ae(archive_entry_new(), archive_entry_free);
      archive_entry_set_pathname(ae.get(), e.rel.c_str());
      archive_entry_set_uid(ae.get(), 0);
      archive_entry_set_gid(ae.get(), 0);
      archive_entry_set_mtime(ae.get(), e.mtime, 0);
      archive_entry_set_perm(ae.get(), e.st.st_mode & 07777);
      if (S_ISDIR(e.st.st_mode)) {
        archive_entry_set_filetype(ae.get(), AE_IFDIR);
        ++result.dirs;
      } else if (S_ISLNK(e.st.st_mode)) {
        std::error_code ec;
        const auto target = fs::read_symlink(e.abs, ec);
        if (ec) throw Error("cannot read symlink " + e.abs.string() + ": " + ec.message());
        archive_entry_set_filetype(ae.get(), AE_IFLNK);
        archive_entry_set_symlink(ae.get(), target.c_str());
        ++result.symlinks;
      } else {
        archive_entry_set_filetype(ae.get(), AE_IFREG);
        if (!e.extra && e.st.st_nlink > 1) {
          auto [it, first] = first_link.emplace(std::make_pair(e.st.st_dev, e.st.st_ino), e.rel);
          if (!first) {
            archive_entry_set_hardlink(ae.get(), it->second.c_str());
            archive_entry_set_size(ae.get(), 0);
            check(a.get(), archive_write_header(a.get(), ae.get()), e.rel);
            ++result.hardlinks;
            continue;
          }
        }
        archive_entry_set_size(ae.get(), e.st.st_size);
        ++result.files;
      }
      check(a.get(), archive_write_header(a.get(), ae.get()), e.rel);
      if (!S_ISREG(e.st.st_mode)) continue;
      if (e.extra) {
        if (archive_write_data(a.get(), e.extra->content.data(), e.extra->content.size()) < 0)
          check(a.get(), ARCHIVE_FATAL, e.rel);
        result.bytes_in += e.extra->content.size();
        continue;
      }
      int fd = open(e.abs.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw Error("cannot read " + e.abs.string() + ": " + std::strerror(errno));
      uint64_t left = static_cast<uint64_t>(e.st.st_size);
      while (left > 0) {
        ssize_t n = read(fd, buf.data(), std::min<uint64_t>(buf.size(), left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          const std::string why = n < 0 ? std::strerror(errno) : "it shrank while being packed";
          close(fd);
          throw Error("cannot read " + e.abs.string() + ": " + why);
        }
        if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) < 0) {
          close(fd);
          check(a.get(), ARCHIVE_FATAL, e.rel);
        }
        left -= static_cast<uint64_t>(n);
        result.bytes_in += static_cast<uint64_t>(n);
      }
      close(fd);
      if (o.progress && result.bytes_in - last_progress >= (4u << 20)) {
        last_progress = result.bytes_in;
        o.progress(result.bytes_in, out.bytes);
      }
    }
    check(a.get(), archive_write_close(a.get()), "finish " + out.path);
    if (out.error) throw Error("cannot write " + out.path + ": " + std::strerror(out.error));
    if (std::fflush(out.file) != 0 || fsync(fileno(out.file)) != 0)
      throw Error("cannot write " + out.path + ": " + std::strerror(errno));
    std::fclose(out.file);
    out.file = nullptr;
    if (std::rename(out.path.c_str(), o.output.c_str()) != 0)
      throw Error("cannot rename " + out.path + " to " + o.output.string() + ": " + std::strerror(errno));
  } catch (...) {
    if (out.file) std::fclose(out.file);
    std::remove(out.path.c_str());
    throw;
  }
  result.bytes_out = out.bytes;
  result.sha256 = out.hasher.hex_digest();
  if (o.progress) o.progress(result.bytes_in, result.bytes_out);
  return result;
}

}  // namespace haul
