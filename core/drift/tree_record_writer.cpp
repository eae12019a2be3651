// SPDX-License-Identifier: Apache-2.0
#include "drift/tree_record_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "drift/tree_record_format.hpp"
#include "util/durable_file.hpp"
#include "util/error.hpp"

namespace haul {
namespace {
constexpr size_t kBufferBytes = 1 << 20;
}

TreeRecordWriter::TreeRecordWriter(std::filesystem::path record)
    : record_(std::move(record)), pending_(record_.string() + ".new") {
  std::error_code ec;
  std::filesystem::create_directories(record_.parent_path(), ec);
  fd_ = open(pending_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot write the content record " + pending_.string() + ": " + std::strerror(errno));
  buffer_.resize(kBufferBytes);
  restart();
}

TreeRecordWriter::~TreeRecordWriter() {
  if (fd_ < 0) return;
  close(fd_);
  std::error_code ec;
  std::filesystem::remove(pending_, ec);
}

char* TreeRecordWriter::room(size_t n) {
  if (used_ + n > buffer_.size()) flush();
  if (n > buffer_.size()) buffer_.resize(n);  // a name longer than any filesystem takes
  return buffer_.data() + used_;
}

void TreeRecordWriter::dir(std::string_view path, unsigned mode) {
  used_ = put_dir_line(room(line_room(path)), path, mode) - buffer_.data();
}

void TreeRecordWriter::file(std::string_view path, unsigned mode, uint64_t size, const struct timespec& mtime,
                            std::string_view hash) {
  used_ = put_file_line(room(line_room(path)), path, mode, size, mtime, hash) - buffer_.data();
}

void TreeRecordWriter::symlink(std::string_view path, std::string_view target) {
  used_ = put_symlink_line(room(line_room(path, target)), path, target) - buffer_.data();
}

void TreeRecordWriter::hardlink(std::string_view path, std::string_view to) {
  used_ = put_hardlink_line(room(line_room(path, to)), path, to) - buffer_.data();
}

void TreeRecordWriter::restart() {
  used_ = 0;
  if (ftruncate(fd_, 0) != 0 || lseek(fd_, 0, SEEK_SET) != 0)
    throw Error("cannot write the content record " + pending_.string() + ": " + std::strerror(errno));
  char* out = room(kTreeRecordMagic.size() + 1);
  std::memcpy(out, kTreeRecordMagic.data(), kTreeRecordMagic.size());
  out[kTreeRecordMagic.size()] = '\n';
  used_ += kTreeRecordMagic.size() + 1;
}

void TreeRecordWriter::flush() {
  size_t done = 0;
  while (done < used_) {
    const ssize_t n = write(fd_, buffer_.data() + done, used_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("cannot write the content record " + pending_.string() + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  used_ = 0;
}

void TreeRecordWriter::finish(const TreeRecordMeta& meta) {
  auto put_meta = [&](std::string_view key, std::string_view value) {
    used_ = put_meta_line(room(line_room(value)), key, value) - buffer_.data();
  };
  put_meta("release", meta.release);
  put_meta("manifest", meta.manifest_url);
  for (const auto& r : meta.rules) put_meta("rule", r);
  for (const auto& l : meta.linked) put_meta("linked", l);
  flush();
  if (fsync(fd_) != 0)
    throw Error("cannot write the content record " + pending_.string() + ": " + std::strerror(errno));
}

void TreeRecordWriter::commit() {
  close(fd_);
  fd_ = -1;
  if (std::rename(pending_.c_str(), record_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(pending_, ec);
    std::filesystem::remove(record_, ec);
    throw Error("cannot put the content record " + record_.string() + " in place: " + why);
  }
  fsync_dir(record_.parent_path());
}

}  // namespace haul
