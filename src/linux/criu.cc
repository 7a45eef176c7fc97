#include "linux/criu.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/subprocess.h"

namespace vessel::linux::criu {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

// The first "Error" line in CRIU's output (the cause; later ones say what failed because of it,
// down to "Dumping FAILED."), without its source location.
std::string last_error_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, found;
  while (std::getline(in, line)) {
    std::string t = trim(line);
    // Log lines start with a timestamp in parentheses: "(00.012) Error (...): ..."
    size_t e = t.find("Error (");
    if (e == std::string::npos) continue;
    size_t close = t.find("): ", e);
    found = close == std::string::npos ? t.substr(e) : t.substr(close + 3);
    break;
  }
  return found;
}

}  // namespace

std::string find_criu(const std::string& preferred) {
  if (const char* env = std::getenv("VESSEL_CRIU"); env && *env) return env;
  if (!preferred.empty()) return preferred;
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin";
  dirs += ":/usr/sbin:/sbin";
  std::istringstream in(dirs);
  std::string d;
  while (std::getline(in, d, ':')) {
    if (d.empty()) continue;
    std::string p = d + "/criu";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::optional<std::string> unavailable_reason(const std::string& criu) {
  if (criu.empty()) return std::string("criu is not installed (apt-get install criu)");
  SubprocessResult r;
  try {
    r = run_subprocess(criu, {criu, "check"}, {}, "", 60000);
  } catch (const std::exception& e) {
    return fmt::format("cannot run {} check: {}", criu, e.what());
  }
  if (r.status == 0) return std::nullopt;
  std::string why = last_error_line(r.err + "\n" + r.out);
  if (why.empty()) why = trim(r.err.empty() ? r.out : r.err);
  if (why.empty()) why = fmt::format("exit status {}", r.status);
  return fmt::format("`criu check` fails on this kernel: {}", why);
}

std::string last_log_error(const std::string& log_path) {
  std::string text;
  try {
    text = read_file(log_path);
  } catch (const std::exception&) {
    return "";
  }
  return last_error_line(text);
}

Swrk::Swrk(const SwrkSetup& setup) {
  if (setup.criu.empty()) fail("criu is not installed (apt-get install criu)");
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    fail_errno("socketpair for criu swrk");
  UniqueFd ours(sv[0]), theirs(sv[1]);
  std::string fd_arg = std::to_string(theirs.get());
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork for criu swrk");
  if (pid == 0) {
    // Child: only async-signal-safe calls until execv.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fl = ::fcntl(theirs.get(), F_GETFD);
    ::fcntl(theirs.get(), F_SETFD, fl & ~FD_CLOEXEC);
    for (int fd : setup.keep_fds) {
      int f = ::fcntl(fd, F_GETFD);
      if (f >= 0) ::fcntl(fd, F_SETFD, f & ~FD_CLOEXEC);
    }
    if (!setup.private_root_bind.empty()) {
      const char* root = setup.private_root_bind.c_str();
      if (::unshare(CLONE_NEWNS) < 0 ||
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0 ||
          ::mount(root, root, nullptr, MS_BIND | MS_REC, nullptr) < 0) {
        const char msg[] =
            "vessel: criu swrk: cannot bind the container's root in a private mount namespace\n";
        (void)!::write(2, msg, sizeof msg - 1);
        ::_exit(127);
      }
    }
    const char* argv[] = {setup.criu.c_str(), "swrk", fd_arg.c_str(), nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  pid_ = pid;
  sock_ = std::move(ours);
}

Swrk::~Swrk() {
  sock_.reset();
  if (pid_ > 0) {
    int status = 0;
    if (retry_eintr([&] { return ::waitpid(pid_, &status, 0); }) == pid_ && WIFEXITED(status) &&
        WEXITSTATUS(status) != 0)
      log::debug(fmt::format("criu swrk exited with status {}", WEXITSTATUS(status)));
  }
}

void Swrk::send(const std::string& msg) {
  if (retry_eintr([&] { return ::send(sock_.get(), msg.data(), msg.size(), MSG_NOSIGNAL); }) < 0)
    fail_errno("send a request to criu swrk (pid {})", pid_);
}

Response Swrk::receive(UniqueFd* passed_fd) {
  std::string buf(1 << 20, '\0');
  // CRIU sends an fd along with some notifications (the new pty master of "orphan-pts-master").
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  struct iovec iov {
    buf.data(), buf.size()
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = retry_eintr([&] { return ::recvmsg(sock_.get(), &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) fail_errno("read criu swrk's response (pid {})", pid_);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (passed_fd && !*passed_fd)
        *passed_fd = UniqueFd(fd);
      else
        ::close(fd);
    }
  }
  if (n == 0) fail("criu swrk (pid {}) exited without a response", pid_);
  if (msg.msg_flags & MSG_TRUNC) fail("criu swrk (pid {}): a response over 1 MiB", pid_);
  buf.resize(static_cast<size_t>(n));
  return decode_response(buf);
}

Response Swrk::call(ReqType type, const Opts& opts, const NotifyHandler& on_notify) {
  send(encode_request(type, &opts));
  for (;;) {
    UniqueFd fd;
    Response r = receive(&fd);
    if (r.type != ReqType::notify) return r;
    log::debug(fmt::format("criu notification: {}{}", r.notify_script, fd ? " (with an fd)" : ""));
    if (on_notify) on_notify(r.notify_script, std::move(fd));
    send(encode_request(ReqType::notify, nullptr, true));
  }
}

}  // namespace vessel::linux::criu
