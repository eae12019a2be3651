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
  buffer_.reserve(kBufferBytes + 4096);
  restart();
}

TreeRecordWriter::~TreeRecordWriter() {
  if (fd_ < 0) return;
  close(fd_);
  std::error_code ec;
  std::filesystem::remove(pending_, ec);
}

void TreeRecordWriter::dir(std::string_view path, unsigned mode) {
  append_dir_line(buffer_, path, mode);
  flush_if_full();
}

void TreeRecordWriter::file(std::string_view path, unsigned mode, uint64_t size, const struct timespec& mtime,
                            std::string_view hash) {
  append_file_line(buffer_, path, mode, size, mtime, hash);
  flush_if_full();
}

void TreeRecordWriter::symlink(std::string_view path, std::string_view target) {
  append_symlink_line(buffer_, path, target);
  flush_if_full();
}

void TreeRecordWriter::hardlink(std::string_view path, std::string_view to) {
  append_hardlink_line(buffer_, path, to);
  flush_if_full();
}

void TreeRecordWriter::restart() {
  buffer_.clear();
  if (ftruncate(fd_, 0) != 0 || lseek(fd_, 0, SEEK_SET) != 0)
    throw Error("cannot write the content record " + pending_.string() + ": " + std::strerror(errno));
  buffer_.append(kTreeRecordMagic);
  buffer_ += '\n';
}

void TreeRecordWriter::flush_if_full() {
  if (buffer_.size() >= kBufferBytes) flush();
}

void TreeRecordWriter::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("cannot write the content record " + pending_.string() + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

void TreeRecordWriter::finish(const TreeRecordMeta& meta) {
  append_meta_line(buffer_, "release", meta.release);
  append_meta_line(buffer_, "manifest", meta.manifest_url);
  for (const auto& r : meta.rules) append_meta_line(buffer_, "rule", r);
  for (const auto& l : meta.linked) append_meta_line(buffer_, "linked", l);
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
