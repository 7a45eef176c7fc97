#include "util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"

extern char** environ;

namespace vessel {

namespace {

int64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Reaps the child whatever happens to the caller, so no error path leaves a zombie or a
// helper running on.
struct ChildGuard {
  pid_t pid;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
};

}  // namespace

SigpipeBlocked::SigpipeBlocked() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &set, &old_);
}

SigpipeBlocked::~SigpipeBlocked() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  timespec zero{0, 0};
  if (!was_pending_) sigtimedwait(&set, nullptr, &zero);
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

SubprocessResult run_subprocess(const std::string& path, const std::vector<std::string>& argv,
                                const std::vector<std::string>& env, const std::string& input,
                                int timeout_ms) {
  int in[2], out[2], err[2], report[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      ::pipe2(report, O_CLOEXEC) != 0)
    fail_errno("running {}: pipe2", path);
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]),
      rep_r(report[0]), rep_w(report[1]);
  auto args = c_strings(argv);
  auto envs = c_strings(env);
  char* const* envp = env.empty() ? environ : envs.data();

  pid_t pid = ::fork();
  if (pid < 0) fail_errno("running {}: fork", path);
  if (pid == 0) {
    // Only async-signal-safe calls here: the caller may have threads.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (::dup2(in_r.get(), 0) >= 0 && ::dup2(out_w.get(), 1) >= 0 && ::dup2(err_w.get(), 2) >= 0) {
      ::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
      ::execve(path.c_str(), args.data(), envp);
    }
    int e = errno;
    ssize_t ignored = ::write(rep_w.get(), &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  SigpipeBlocked no_sigpipe;
  ChildGuard guard{pid};
  in_r.reset();
  out_w.reset();
  err_w.reset();
  rep_w.reset();
  int exec_errno = 0;
  if (retry_eintr([&] { return ::read(rep_r.get(), &exec_errno, sizeof exec_errno); }) ==
      sizeof exec_errno)
    throw_errno("running " + path, exec_errno);

  // Feed stdin and drain both outputs together, so a helper that writes a lot before reading
  // cannot deadlock against us.
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (input.empty()) in_w.reset();
  SubprocessResult r;
  int64_t deadline = monotonic_ms() + timeout_ms;
  while (out_r || err_r) {
    pollfd fds[3];
    int n = 0;
    if (out_r) fds[n++] = {out_r.get(), POLLIN, 0};
    if (err_r) fds[n++] = {err_r.get(), POLLIN, 0};
    if (in_w) fds[n++] = {in_w.get(), POLLOUT, 0};
    int64_t left = deadline - monotonic_ms();
    if (left <= 0) fail("{}: still running after {} s; killed", path, timeout_ms / 1000);
    int pr = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(left));
    if (pr < 0) {
      if (errno == EINTR) continue;
      fail_errno("running {}: poll", path);
    }
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (in_w && fds[i].fd == in_w.get()) {
        ssize_t w = ::write(in_w.get(), input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // EPIPE
        if (written == input.size()) in_w.reset();
        continue;
      }
      UniqueFd& src = out_r && fds[i].fd == out_r.get() ? out_r : err_r;
      std::string& dst = &src == &out_r ? r.out : r.err;
      char buf[8192];
      ssize_t got = ::read(src.get(), buf, sizeof buf);
      if (got > 0)
        dst.append(buf, static_cast<size_t>(got));
      else if (got == 0 || (errno != EINTR && errno != EAGAIN))
        src.reset();
    }
  }
  in_w.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail_errno("running {}: waitpid", path);
  }
  guard.pid = 0;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string spawn_daemon(const std::vector<std::string>& args, const std::string& log_path,
                         mode_t log_mode, const std::string& what) {
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail("{}: pipe: {}", what, std::strerror(errno));
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t child = ::fork();
  if (child < 0) fail("{}: fork: {}", what, std::strerror(errno));
  if (child == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int null = ::open("/dev/null", O_RDWR);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, log_mode);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(log >= 0 ? log : null, 2);
    if (p[1] == 3)
      ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
    else
      ::dup2(p[1], 3);
    ::syscall(SYS_close_range, 4u, ~0u, 0u);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGPIPE, SIGCHLD}) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  wr.reset();
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::string msg = read_fd(rd.get());  // the child's error, if any
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  return msg;
}

}  // namespace vessel
