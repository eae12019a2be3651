// SPDX-License-Identifier: Apache-2.0
// Hook "shell": runs the manifest's commands for each phase through
// /bin/sh -c, in order, as stretcher did. Output (stdout and stderr) goes to
// the deploy log line by line. On success and failure the whole deploy log is
// written to the command's stdin — without blocking on a command that never
// reads it. A non-zero exit fails the phase with the command and its status.
// Each command runs in its own process group so a timeout or shutdown kills
// everything it started.
#include <fcntl.h>
#include <haul/sdk.hpp>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset(int n = -1) {
    if (fd >= 0) close(fd);
    fd = n;
  }
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "status " + std::to_string(status);
}

// write(2) that never raises SIGPIPE, whatever the host's signal setup: the
// signal is blocked on this thread for the call and a pending one consumed.
ssize_t write_no_sigpipe(int fd, const void* data, size_t len) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t w = write(fd, data, len);
  int saved = errno;
  if (w < 0 && errno == EPIPE) {
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return w;
}

class ShellHook {
 public:
  ShellHook(const haul::sdk::Config& cfg, const haul::sdk::Host&)
      : shell_(cfg.str("shell", "/bin/sh")),
        timeout_(cfg.duration("timeout", std::chrono::milliseconds(0))),
        drain_(cfg.duration("output_grace", std::chrono::milliseconds(500))) {}

  void on_phase(const haul::sdk::HookContext& ctx) {
    for (const auto& cmd : ctx.commands()) run(ctx, cmd);
  }

 private:
  void run(const haul::sdk::HookContext& ctx, const std::string& cmd) {
    const bool feed_log = ctx.phase() == HAUL_PHASE_SUCCESS || ctx.phase() == HAUL_PHASE_FAILURE;
    ctx.log(HAUL_LOG_INFO, std::string("Invoking ") + ctx.phase_name() + " command: " + cmd);
    int out_pipe[2], in_pipe[2] = {-1, -1};
    if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    Fd out_r{out_pipe[0]}, out_w{out_pipe[1]}, in_r, in_w;
    if (feed_log) {
      if (pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
      in_r.reset(in_pipe[0]);
      in_w.reset(in_pipe[1]);
    }
    // The deploy's variables first and once: they win over inherited ones.
    std::vector<std::string> env_strings;
    const auto deploy_env = ctx.env();
    for (const auto& [k, v] : deploy_env) env_strings.push_back(k + "=" + v);
    for (char** e = environ; *e; ++e) {
      std::string_view entry(*e);
      std::string_view key = entry.substr(0, entry.find('='));
      bool shadowed = false;
      for (const auto& kv : deploy_env) shadowed = shadowed || key == kv.first;
      if (!shadowed) env_strings.emplace_back(entry);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const char* argv[] = {shell_.c_str(), "-c", cmd.c_str(), nullptr};

    // The command runs only once haul has recorded its process group (a kill
    // in between must not leave an unrecorded orphan): the child waits for
    // a byte on this pipe, and exits if haul died first.
    int go_pipe[2];
    if (pipe2(go_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    Fd go_r{go_pipe[0]}, go_w{go_pipe[1]};
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      setpgid(0, 0);
      close(go_pipe[1]);
      char go = 0;
      ssize_t got;
      while ((got = read(go_pipe[0], &go, 1)) < 0 && errno == EINTR) {
      }
      if (got != 1) _exit(127);  // haul is gone: run nothing
      int devnull = open("/dev/null", O_RDONLY);
      dup2(feed_log ? in_r.fd : devnull, 0);
      dup2(out_w.fd, 1);
      dup2(out_w.fd, 2);
      signal(SIGPIPE, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execve(argv[0], const_cast<char* const*>(argv), envp.data());
      _exit(127);
    }
    setpgid(pid, pid);
    go_r.reset();
    // Recorded while it runs: if haul is killed now, the next deploy ends it.
    ctx.process_started(pid);
    struct Ended {
      const haul::sdk::HookContext& ctx;
      pid_t pid;
      ~Ended() { ctx.process_ended(pid); }
    } ended{ctx, pid};
    const char go = 1;
    (void)!write(go_w.fd, &go, 1);
    go_w.reset();
    out_w.reset();
    in_r.reset();
    if (in_w.fd >= 0) fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
    const std::string_view input = ctx.deploy_log();
    size_t written = 0;
    std::string partial;
    // The command's output is marked with its phase and command, so that
    // `ls` printing README never reads as one of haul's own lines (the JSON
    // log turns the mark into hook_phase and command fields).
    const std::string mark = "<" + std::string(ctx.phase_name()) + " `" +
                             (cmd.size() > 60 ? cmd.substr(0, 57) + "..." : cmd) + "`> ";
    auto flush_lines = [&](bool all) {
      size_t start = 0, nl;
      while ((nl = partial.find('\n', start)) != std::string::npos) {
        ctx.log(HAUL_LOG_INFO, mark + partial.substr(start, nl - start));
        start = nl + 1;
      }
      partial.erase(0, start);
      if (all && !partial.empty()) {
        ctx.log(HAUL_LOG_INFO, mark + partial);
        partial.clear();
      }
    };

    const auto start = Clock::now();
    const auto timeout = ctx.command_timeout().count() > 0 ? ctx.command_timeout() : timeout_;
    int status = 0;
    bool exited = false, killed_for_timeout = false, cancelled = false;
    Clock::time_point exited_at;
    while (true) {
      if (!exited) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
          exited = true;
          exited_at = Clock::now();
          in_w.reset();
        }
      }
      if (out_r.fd < 0 && exited) break;
      // A command that left a background child holding stdout must not hang
      // the deploy: after it exits, output is read only for a short grace.
      if (exited && Clock::now() - exited_at > drain_) break;
      if (!exited && !killed_for_timeout && ((timeout.count() > 0 && Clock::now() - start > timeout) ||
                                             (ctx.cancelled() && !cancelled))) {
        cancelled = ctx.cancelled();
        killed_for_timeout = !cancelled;
        kill(-pid, SIGKILL);
      }
      pollfd fds[2];
      nfds_t n = 0;
      if (out_r.fd >= 0) fds[n++] = {out_r.fd, POLLIN, 0};
      if (in_w.fd >= 0 && written < input.size()) fds[n++] = {in_w.fd, POLLOUT, 0};
      int pr = poll(fds, n, 50);
      if (pr < 0 && errno != EINTR) break;
      for (nfds_t i = 0; i < n && pr > 0; ++i) {
        if (fds[i].fd == out_r.fd && (fds[i].revents & (POLLIN | POLLHUP))) {
          char buf[8192];
          ssize_t got = read(out_r.fd, buf, sizeof buf);
          if (got > 0) {
            partial.append(buf, static_cast<size_t>(got));
            flush_lines(false);
          } else if (got == 0) {
            out_r.reset();
          }
        } else if (fds[i].fd == in_w.fd && (fds[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
          ssize_t w = write_no_sigpipe(in_w.fd, input.data() + written, input.size() - written);
          if (w > 0) written += static_cast<size_t>(w);
          if (w < 0 && errno != EAGAIN) in_w.reset();  // EPIPE: the command does not read stdin; fine
          if (written >= input.size()) in_w.reset();
        }
      }
    }
    flush_lines(true);
    if (killed_for_timeout)
      throw std::runtime_error("command `" + cmd + "` timed out after " + std::to_string(timeout.count()) + "ms and was killed");
    if (cancelled) throw std::runtime_error("command `" + cmd + "` was killed: haul is stopping");
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      throw std::runtime_error("command `" + cmd + "` failed: " + describe_status(status));
  }

  std::string shell_;
  std::chrono::milliseconds timeout_, drain_;
};

const haul_config_field kFields[] = {
    {"shell", "string", "/bin/sh", "the shell that runs each command as SHELL -c COMMAND", 0},
    {"timeout", "duration", "0s", "kill a command (and its process group) after this long; 0 = no limit", 0},
    {"output_grace", "duration", "500ms", "after a command exits, how long to keep reading output its background children still write", 0},
    {nullptr, nullptr, nullptr, nullptr, 0},
};

}  // namespace

HAUL_HOOK_PLUGIN(ShellHook, "shell", "0.1.0", "runs the manifest's commands (pre, post, success, failure) with /bin/sh -c", kFields)
