// SPDX-License-Identifier: Apache-2.0
// Source "file": file:///absolute/path (and file://localhost/path), with
// percent-decoding. Resumes by seeking to the requested offset, pinned to
// the file the first attempt opened (its inode, size and times: a file
// replaced or rewritten since is read again from the start). A missing or
// unreadable file is permanent (not waited for). Stores by
// writing a temporary file beside the target, fsync, then rename(2): a reader
// (an agent fetching a manifest or pointer on NFS or a shared disk) sees the
// old file or the whole new one. Lists and removes for `haul gc`; the
// temporaries of stores in progress are not listed.
#include <fcntl.h>
#include <haul/sdk.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <algorithm>
#include <vector>

namespace {

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string path_of(const std::string& url) {
  const std::string prefix = "file://";
  if (url.compare(0, prefix.size(), prefix) != 0) throw std::runtime_error(url + ": not a file:// URL");
  std::string rest = url.substr(prefix.size());
  if (rest.compare(0, 9, "localhost") == 0) rest = rest.substr(9);
  if (rest.empty() || rest[0] != '/')
    throw std::runtime_error(url + ": expected an absolute path, as file:///srv/releases/app.tgz (three slashes)");
  size_t q = rest.find_first_of("?#");
  return percent_decode(rest.substr(0, q));
}

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

// Which file this is, and which version of it: a rename puts another inode
// there; a write moves mtime, and ctime too when the writer sets mtime back.
std::string version_of(const struct stat& st) {
  auto time = [](const struct timespec& t) {
    char nanos[16];
    std::snprintf(nanos, sizeof nanos, "%09ld", static_cast<long>(t.tv_nsec));
    return std::to_string(t.tv_sec) + "." + nanos;
  };
  return "inode " + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ", " + std::to_string(st.st_size) +
         " bytes, mtime " + time(st.st_mtim) + ", ctime " + time(st.st_ctim);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void write_all(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail("write", path);
    data += w;
    n -= static_cast<size_t>(w);
  }
}

class FileSource {
 public:
  FileSource(const haul::sdk::Config& cfg, const haul::sdk::Host&) : chunk_(cfg.bytes("chunk_size", 256 << 10)) {
    if (chunk_ == 0) throw std::runtime_error("chunk_size must be at least 1 byte");
  }

  void fetch(const std::string& url, uint64_t offset, uint64_t length, haul::sdk::Sink& sink) {
    const std::string path = path_of(url);
    Fd file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    const int fd = file.get();
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == EPERM))
      throw haul::sdk::PermanentError("open " + path + ": " + std::strerror(errno));
    if (fd < 0) fail("open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) fail("stat", path);
    if (S_ISDIR(st.st_mode)) throw std::runtime_error(path + " is a directory, not a file");
    sink.set_total_size(static_cast<uint64_t>(st.st_size));
    sink.pin(version_of(st), path + ": the file");
    if (offset && lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0)
      throw std::runtime_error("seek " + path + ": " + std::strerror(errno));
    std::vector<char> buf(chunk_);
    uint64_t left = length ? length : UINT64_MAX;
    while (left > 0) {
      if (sink.cancelled()) throw haul::sdk::Cancelled();
      ssize_t n = read(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), left)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("read", path);
      if (n == 0) return;
      sink.write(buf.data(), static_cast<size_t>(n));
      left -= static_cast<uint64_t>(n);
    }
  }

  void list(const std::string& prefix_url, const std::function<void(const haul::sdk::StoredObject&)>& each) {
    namespace fs = std::filesystem;
    const fs::path root = path_of(prefix_url);
    std::error_code ec;
    if (!fs::exists(root, ec)) return;  // an empty store
    fs::recursive_directory_iterator it(root, ec), end;
    if (ec) throw std::runtime_error("list " + root.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw std::runtime_error("list " + root.string() + ": " + ec.message());
      struct stat st;
      if (it->path().filename().string().rfind('.', 0) == 0 || lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        continue;
      each({it->path().lexically_relative(root).generic_string(), static_cast<uint64_t>(st.st_size), st.st_mtime});
    }
  }

  void remove(const std::string& url) {
    const std::string path = path_of(url);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) fail("remove", path);
  }

  void store(const std::string& url, const std::string& from, const std::string&) {
    namespace fs = std::filesystem;
    const fs::path target = path_of(url);
    if (target.filename().empty()) throw std::runtime_error(url + ": names a folder; expected a file name at the end");
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw std::runtime_error("create folder " + target.parent_path().string() + ": " + ec.message());
    Fd in(open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) fail("open", from);
    std::mt19937_64 rng(std::random_device{}());
    const std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".tmp-" +
                                                     std::to_string(rng() % 1000000007))).string();
    Fd out(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (out.get() < 0) fail("create", tmp);
    try {
      std::vector<char> buf(chunk_);
      while (true) {
        ssize_t n = read(in.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read", from);
        if (n == 0) break;
        write_all(out.get(), buf.data(), static_cast<size_t>(n), tmp);
      }
      if (fsync(out.get()) != 0) fail("fsync", tmp);
      if (close(out.release()) != 0) fail("close", tmp);
      if (rename(tmp.c_str(), target.c_str()) != 0) fail("rename to", target.string());
    } catch (...) {
      unlink(tmp.c_str());
      throw;
    }
    // The rename is durable once the folder's entry is.
    Fd dir(open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) fsync(dir.get());
  }

 private:
  size_t chunk_;
};

const haul_config_field kFields[] = {
    {"chunk_size", "bytes", "256KiB", "size of each read (the pipe to the extractor moves 256 KiB chunks)", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};
const char* const kSchemes[] = {"file", nullptr};

}  // namespace

HAUL_SOURCE_PLUGIN(FileSource, "file", "0.1.0", "reads and atomically writes file:// URLs on the local filesystem", kFields, kSchemes)
