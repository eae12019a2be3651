// Source "file": file:///absolute/path (and file://localhost/path), with
// percent-decoding. Resumes by seeking to the requested offset.
#include <fcntl.h>
#include <haul/sdk.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

class FileSource {
 public:
  FileSource(const haul::sdk::Config& cfg, const haul::sdk::Host&) : chunk_(cfg.bytes("chunk_size", 1 << 20)) {
    if (chunk_ == 0) throw std::runtime_error("chunk_size must be at least 1 byte");
  }

  void fetch(const std::string& url, uint64_t offset, haul::sdk::Sink& sink) {
    const std::string path = path_of(url);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    struct Closer {
      int fd;
      ~Closer() { close(fd); }
    } closer{fd};
    struct stat st;
    if (fstat(fd, &st) == 0) {
      if (S_ISDIR(st.st_mode)) throw std::runtime_error(path + " is a directory, not a file");
      sink.set_total_size(static_cast<uint64_t>(st.st_size));
    }
    if (offset && lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0)
      throw std::runtime_error("seek " + path + ": " + std::strerror(errno));
    std::vector<char> buf(chunk_);
    while (true) {
      if (sink.cancelled()) throw haul::sdk::Cancelled();
      ssize_t n = read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("read " + path + ": " + std::strerror(errno));
      if (n == 0) return;
      sink.write(buf.data(), static_cast<size_t>(n));
    }
  }

 private:
  size_t chunk_;
};

const haul_config_field kFields[] = {
    {"chunk_size", "bytes", "1MiB", "size of each read", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};
const char* const kSchemes[] = {"file", nullptr};

}  // namespace

HAUL_SOURCE_PLUGIN(FileSource, "file", "0.1.0", "reads file:// URLs from the local filesystem", kFields, kSchemes)
