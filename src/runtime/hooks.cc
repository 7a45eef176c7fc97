#include "runtime/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <ctime>

#include "util/error.h"
#include "util/fd.h"
#include "util/log.h"
#include "util/subprocess.h"

namespace vessel::runtime {
namespace {

// How much of each output stream is kept: enough for a useful error message, bounded so a
// chatty hook cannot grow the runtime's memory.
constexpr size_t kTailBytes = 4096;
// Without a pidfd the loop has to look for the hook's exit itself, this often.
constexpr int kPollTickMs = 20;

// Pipes whose ends will be dup2()ed onto 0..2 in the child must not themselves be 0..2
// (possible when the runtime runs with a closed stdio fd), or the dup2 sequence clobbers them.
UniqueFd above_stdio(int fd) {
  UniqueFd owned(fd);
  if (fd > STDERR_FILENO) return owned;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (moved < 0) fail_errno("hooks: fcntl(F_DUPFD_CLOEXEC)");
  return UniqueFd(moved);
}

struct Pipe {
  UniqueFd read, write;
};

Pipe make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) fail_errno("hooks: pipe2");
  Pipe p;
  p.read = above_stdio(fds[0]);
  p.write = above_stdio(fds[1]);
  return p;
}

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    fail_errno("hooks: fcntl(O_NONBLOCK)");
}

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Owns the hook process until it has been reaped, so that no error path leaves a zombie or
// a hook running on after the runtime gave up on it.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ <= 0) return;
    kill_group();
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The hook leads its own process group, so helpers it started (a shell's `sleep`) die too.
  void kill_group() {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
  }

  // True once reaped; `status` then holds the wait status.
  bool try_wait(int& status) {
    pid_t r = retry_eintr([&] { return waitpid(pid_, &status, WNOHANG); });
    if (r == pid_) {
      pid_ = -1;
      return true;
    }
    if (r < 0) fail_errno("hooks: waitpid({})", pid_);
    return false;
  }

  int wait_blocking() {
    int status = 0;
    pid_t r = retry_eintr([&] { return waitpid(pid_, &status, 0); });
    pid_ = -1;
    if (r < 0) fail_errno("hooks: waitpid");
    return status;
  }

 private:
  pid_t pid_;
};

// Keeps the last kTailBytes of a stream.
void append_tail(std::string& tail, const char* data, size_t n) {
  tail.append(data, n);
  if (tail.size() > kTailBytes) tail.erase(0, tail.size() - kTailBytes);
}

// Reads what is available; returns false at EOF or on error (the stream is then done).
// Bounded, so a helper that never stops writing cannot hold the loop past the timeout.
bool drain(int fd, std::string& tail) {
  char buf[4096];
  for (int i = 0; i < 64; ++i) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      append_tail(tail, buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  return true;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t start = s.find_first_not_of("\n\r ");
  return start == std::string::npos ? std::string() : s.substr(start);
}

// What the report pipe says went wrong before the hook's program ran.
enum class ChildStage : int { chdir = 1, exec = 2 };

// Child side, between fork and exec: only async-signal-safe calls and no allocation, since
// a caller with threads (a test harness, a library user) may have forked a locked malloc.
[[noreturn]] void exec_child(const char* path, char* const argv[], char* const envp[],
                             const char* cwd, int in, int out, int err, int report) {
  setpgid(0, 0);
  // A hook starts with default signal handling whatever the runtime did to its own.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  int failure[2] = {static_cast<int>(ChildStage::chdir), 0};
  if (cwd && chdir(cwd) < 0) {
    failure[1] = errno;
    ssize_t ignored = write(report, failure, sizeof failure);
    (void)ignored;
    _exit(127);
  }
  failure[0] = static_cast<int>(ChildStage::exec);
  if (dup2(in, STDIN_FILENO) >= 0 && dup2(out, STDOUT_FILENO) >= 0 &&
      dup2(err, STDERR_FILENO) >= 0) {
    // Hooks get stdio only, like any exec'd helper; runtime fds (sync pipes, console socket)
    // stay behind. The report pipe is already close-on-exec.
    if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) < 0) {
      long max = sysconf(_SC_OPEN_MAX);
      if (max < 0 || max > 65536) max = 65536;
      for (int fd = 3; fd < max; ++fd)
        if (fd != report) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    execve(path, argv, envp);
  }
  failure[1] = errno;
  ssize_t ignored = write(report, failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

void run_hook(const oci::Hook& hook, const std::string& phase, size_t index,
              const std::string& state_json, const std::string& cwd) {
  // Failures name the phase, index and path, then say it in runc's words ("error running
  // hook #N: exit status S, stdout: ..., stderr: ...") for whoever matches on those.
  const std::string what =
      fmt::format("{} hook [{}] {}: error running hook #{}", phase, index, hook.path, index);

  std::vector<std::string> args =
      hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<std::string> env = hook.env;
  std::vector<char*> argv = c_strings(args);
  std::vector<char*> envp = c_strings(env);

  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  Pipe report = make_pipe();

  // Writing the state to a hook that exits without reading stdin would raise SIGPIPE.
  SigpipeBlocked sigpipe_blocked;
  pid_t pid = fork();
  if (pid < 0) fail_errno("{}: fork", what);
  if (pid == 0)
    exec_child(hook.path.c_str(), argv.data(), envp.data(), cwd.empty() ? nullptr : cwd.c_str(),
               in.read.get(), out.write.get(), err.write.get(), report.write.get());

  Child child(pid);
  // Also from this side, so kill(-pid) works even if we get there before the child does.
  setpgid(pid, pid);
  in.read.reset();
  out.write.reset();
  err.write.reset();
  report.write.reset();

  // The report pipe closes on a successful exec, or carries the stage and errno of a failure.
  int failure[2] = {0, 0};
  ssize_t n = retry_eintr([&] { return read(report.read.get(), failure, sizeof failure); });
  if (n == sizeof failure) {
    child.wait_blocking();
    errno = failure[1];
    if (failure[0] == static_cast<int>(ChildStage::chdir)) fail_errno("{}: chdir {}", what, cwd);
    fail_errno("{}: exec {}", what, hook.path);
  }

  set_nonblocking(in.write.get());
  set_nonblocking(out.read.get());
  set_nonblocking(err.read.get());

  // pidfd_open (Linux 5.3) lets poll() see the exit directly; older kernels fall back to
  // short ticks. Waiting for EOF instead would hang on a helper that inherited the pipes.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));

  std::string out_tail, err_tail;
  size_t written = 0;
  const bool has_timeout = hook.timeout.has_value();
  const int64_t deadline = has_timeout ? now_ms() + int64_t{*hook.timeout} * 1000 : 0;
  int status = 0;
  bool exited = false;
  bool timed_out = false;

  if (state_json.empty()) in.write.reset();
  while (!exited) {
    if (!pidfd.valid() && child.try_wait(status)) {
      exited = true;
      break;
    }
    pollfd fds[4];
    nfds_t nfds = 0;
    auto watch = [&](const UniqueFd& fd, short events) -> int {
      if (!fd.valid()) return -1;
      fds[nfds] = {fd.get(), events, 0};
      return static_cast<int>(nfds++);
    };
    int in_i = watch(in.write, POLLOUT);
    int out_i = watch(out.read, POLLIN);
    int err_i = watch(err.read, POLLIN);
    int pid_i = watch(pidfd, POLLIN);

    int wait_ms = -1;
    if (has_timeout) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        // A hook that finished just as time ran out has not timed out.
        exited = child.try_wait(status);
        timed_out = !exited;
        break;
      }
      wait_ms = static_cast<int>(std::min<int64_t>(left, INT32_MAX));
    }
    if (!pidfd.valid()) wait_ms = wait_ms < 0 ? kPollTickMs : std::min(wait_ms, kPollTickMs);

    int ready = poll(fds, nfds, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail_errno("{}: poll", what);
    }
    if (in_i >= 0 && fds[in_i].revents) {
      ssize_t w = write(in.write.get(), state_json.data() + written, state_json.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      // EPIPE: the hook does not read its stdin, which it is free to do.
      bool broken = w < 0 && errno != EAGAIN && errno != EINTR;
      if (broken || written == state_json.size()) in.write.reset();  // EOF for the hook
    }
    if (out_i >= 0 && fds[out_i].revents && !drain(out.read.get(), out_tail)) out.read.reset();
    if (err_i >= 0 && fds[err_i].revents && !drain(err.read.get(), err_tail)) err.read.reset();
    if (pid_i >= 0 && fds[pid_i].revents && child.try_wait(status)) exited = true;
  }

  if (timed_out) {
    child.kill_group();
    child.wait_blocking();
  }
  // Whatever the hook wrote before it ended is in the pipes now; its helpers may keep them
  // open, so take what is there and do not wait for EOF.
  if (out.read.valid()) drain(out.read.get(), out_tail);
  if (err.read.valid()) drain(err.read.get(), err_tail);
  out_tail = trimmed(std::move(out_tail));
  err_tail = trimmed(std::move(err_tail));

  std::string output;
  if (!out_tail.empty()) output += ", stdout: " + out_tail;
  if (!err_tail.empty()) output += ", stderr: " + err_tail;

  if (timed_out) fail("{}: timed out after {} s (killed){}", what, *hook.timeout, output);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    fail("{}: exit status {}{}", what, WEXITSTATUS(status), output);
  if (WIFSIGNALED(status))
    fail("{}: killed by signal {} ({}){}", what, WTERMSIG(status), strsignal(WTERMSIG(status)),
         output);
  if (!output.empty())
    log::debug(fmt::format("{} hook [{}] {} output{}", phase, index, hook.path, output));
}

void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& phase,
               const std::string& state_json, const std::string& cwd) {
  for (size_t i = 0; i < hooks.size(); ++i) run_hook(hooks[i], phase, i, state_json, cwd);
}

std::vector<std::string> run_hooks_collecting(const std::vector<oci::Hook>& hooks,
                                              const std::string& phase,
                                              const std::string& state_json,
                                              const std::string& cwd) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < hooks.size(); ++i) {
    try {
      run_hook(hooks[i], phase, i, state_json, cwd);
    } catch (const Error& e) {
      errors.emplace_back(e.what());
    }
  }
  return errors;
}

}  // namespace vessel::runtime
