// The promises of README's "Crash safety" section, each tried the way an
// operator meets it: the real binary, real files, kill -9 and signals at bad
// moments, a full disk, a restarted Consul, odd input on stdin.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

using namespace haul::test;

namespace {

class CrashSafety : public ::testing::Test {
 protected:
  TempDir tmp;
  fs::path dest = tmp / "www/app";

  // Writes an archive of entries and a manifest for it; returns the manifest's URL.
  std::string publish(const std::string& name, const std::vector<Entry>& entries, const std::string& extra = "") {
    const std::string tar = make_tar(entries);
    write_file(tmp / (name + ".tgz"), tar);
    write_file(tmp / (name + ".yml"), "src: " + file_url(tmp / (name + ".tgz")) + "\nchecksum: " + sha256_hex(tar) +
                                          "\ndest: " + dest.string() + "\n" + extra);
    return file_url(tmp / (name + ".yml"));
  }

  std::vector<std::string> argv(const std::vector<std::string>& args) {
    std::vector<std::string> a{haul_binary().string()};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }

  ProcessResult haul(const std::vector<std::string>& args, const std::string& stdin_text = "",
                     std::map<std::string, std::string> env = {}) {
    ProcessOptions o;
    o.stdin_text = stdin_text;
    o.env = std::move(env);
    o.unset_env = {"CONSUL_INDEX", "SERF_USER_EVENT", "SERF_USER_LTIME", "HAUL_PLUGIN_PATH"};
    o.cwd = tmp.path().string();
    return run_process(argv(args), o);
  }

  // Names beside dest that start with prefix.
  std::vector<std::string> beside_dest(const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dest.parent_path()))
      if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().filename().string());
    return out;
  }
};

}  // namespace

// 1. Two builds within one second: same size, same mtime, other bytes.
TEST_F(CrashSafety, AChangedFileWithTheSameSizeAndMtimeIsNeverLeftStale) {
  auto a = publish("a", {dir_entry("./"), file_entry("version", "AAAA"), file_entry("lib.rb", "same")});
  auto b = publish("b", {dir_entry("./"), file_entry("version", "BBBB"), file_entry("lib.rb", "same")});
  ASSERT_EQ(haul({"deploy", a}).exit_code, 0);
  auto r = haul({"deploy", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dest / "version"), "BBBB");
  EXPECT_NE(r.err.find("1 file with dest's size and mtime but new content written"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 file unchanged in dest"), std::string::npos) << r.err;
}
