#include "linux/terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "util/detach_keys.h"
#include "util/error.h"
#include "util/fd_passing.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

// runc's receiver (and so containerd's and podman's) rejects names of this size or more.
constexpr size_t kMaxNameLen = 4096;

void set_winsize(int fd, const oci::ConsoleSize& size) {
  struct winsize ws = {};
  ws.ws_row = static_cast<unsigned short>(size.height);
  ws.ws_col = static_cast<unsigned short>(size.width);
  if (::ioctl(fd, TIOCSWINSZ, &ws) < 0)
    fail_errno("set console size {}x{} (TIOCSWINSZ)", size.width, size.height);
}

// Best effort: a resize that fails must not end the session.
void copy_winsize(int from, int to) {
  struct winsize ws;
  if (::ioctl(from, TIOCGWINSZ, &ws) == 0) ::ioctl(to, TIOCSWINSZ, &ws);
}

// Puts the tty in raw mode and restores the saved settings however the proxy ends, so the
// user's shell is not left unusable.
class RawMode {
 public:
  explicit RawMode(int fd) {
    if (::tcgetattr(fd, &saved_) < 0) fail_errno("tcgetattr stdin");
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    // Output processing stays on, as in runc: the container's pty passes "\n" on unchanged
    // (ONLCR cleared, see clear_onlcr), so this terminal is the one that shows it as "\r\n".
    raw.c_oflag |= OPOST;
    if (::tcsetattr(fd, TCSANOW, &raw) < 0) fail_errno("tcsetattr stdin (raw mode)");
    fd_ = fd;
  }
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;
  ~RawMode() { ::tcsetattr(fd_, TCSANOW, &saved_); }

 private:
  int fd_ = -1;
  struct termios saved_ = {};
};

// SIGWINCH as a pollable fd, with the caller's signal mask restored afterwards. No handler is
// installed, so nothing here outlives the proxy.
class WinchFd {
 public:
  WinchFd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    if (::sigprocmask(SIG_BLOCK, &set, &old_) < 0) fail_errno("sigprocmask block SIGWINCH");
    int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      ::sigprocmask(SIG_SETMASK, &old_, nullptr);
      throw_errno("signalfd SIGWINCH", err);
    }
    fd_.reset(fd);
  }
  WinchFd(const WinchFd&) = delete;
  WinchFd& operator=(const WinchFd&) = delete;
  ~WinchFd() {
    fd_.reset();
    ::sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  int get() const { return fd_.get(); }
  void drain() {
    struct signalfd_siginfo si[4];
    while (::read(fd_.get(), si, sizeof si) > 0) {
    }
  }

 private:
  UniqueFd fd_;
  sigset_t old_;
};

// The master is read and written without blocking so that a container that neither reads its
// input nor stops writing output cannot wedge the proxy; its flags are restored for the caller.
class NonBlocking {
 public:
  explicit NonBlocking(int fd) : fd_(fd) {
    flags_ = ::fcntl(fd, F_GETFL);
    if (flags_ < 0) fail_errno("fcntl F_GETFL on the pty master");
    if (::fcntl(fd, F_SETFL, flags_ | O_NONBLOCK) < 0)
      fail_errno("fcntl F_SETFL O_NONBLOCK on the pty master");
  }
  NonBlocking(const NonBlocking&) = delete;
  NonBlocking& operator=(const NonBlocking&) = delete;
  ~NonBlocking() { ::fcntl(fd_, F_SETFL, flags_); }

 private:
  int fd_;
  int flags_;
};

enum class Read { data, again, end };

// Reads the master; EIO is how Linux reports that every slave fd has been closed.
Read read_master(int master, char* buf, size_t len, size_t* got) {
  ssize_t n = ::read(master, buf, len);
  if (n > 0) {
    *got = static_cast<size_t>(n);
    return Read::data;
  }
  if (n == 0 || errno == EIO) return Read::end;
  if (errno == EAGAIN || errno == EINTR) return Read::again;
  fail_errno("read from the pty master");
}

}  // namespace

Pty open_pty(const std::optional<oci::ConsoleSize>& size) {
  // posix_openpt opens /dev/ptmx by path, so the pty comes from the devpts mounted in the
  // calling process's mount namespace.
  int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) fail_errno("open /dev/ptmx");
  Pty pty{UniqueFd(m), UniqueFd()};
  if (::grantpt(m) < 0) fail_errno("grantpt");
  if (::unlockpt(m) < 0) fail_errno("unlockpt");
  // TIOCGPTPEER opens the slave through the master's own devpts instance, so nothing placed at
  // /dev/pts/N by the container can be substituted; the path is the fallback for kernels
  // before 4.13.
  int s = ::ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    if (errno != EINVAL && errno != ENOTTY) fail_errno("ioctl(TIOCGPTPEER)");
    std::string name = pty_name(m);
    s = ::open(name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) fail_errno("open pty slave {}", name);
  }
  pty.slave.reset(s);
  if (size) set_winsize(m, *size);
  return pty;
}

std::string pty_name(int master) {
  // TIOCGPTN rather than ptsname_r(), which also stats the path and so fails where this
  // mount namespace has no /dev/pts of the master's instance.
  unsigned int n;
  if (::ioctl(master, TIOCGPTN, &n) < 0) fail_errno("ioctl(TIOCGPTN)");
  return "/dev/pts/" + std::to_string(n);
}

void make_controlling_terminal(int slave) {
  // A process that already leads its session cannot call setsid() again, and does not need to.
  if (::setsid() < 0 && !(errno == EPERM && ::getsid(0) == ::getpid())) fail_errno("setsid");
  if (::ioctl(slave, TIOCSCTTY, 0) < 0) fail_errno("ioctl(TIOCSCTTY) on the console");
  for (int fd = 0; fd <= 2; ++fd) {
    if (fd == slave) {
      // dup2() onto itself would leave close-on-exec set and lose the fd at execve.
      int flags = ::fcntl(fd, F_GETFD);
      if (flags < 0 || ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
        fail_errno("clear FD_CLOEXEC on fd {}", fd);
      continue;
    }
    if (retry_eintr([&] { return ::dup2(slave, fd); }) < 0)
      fail_errno("dup2 console onto fd {}", fd);
  }
}

void clear_onlcr(int pty_fd) {
  struct termios t;
  if (::tcgetattr(pty_fd, &t) < 0) fail_errno("tcgetattr on the console");
  t.c_oflag &= ~static_cast<tcflag_t>(ONLCR);
  if (::tcsetattr(pty_fd, TCSANOW, &t) < 0) fail_errno("tcsetattr on the console (clear ONLCR)");
}

UniqueFd connect_unix(const std::string& path) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    fail("socket path \"{}\" is empty or longer than {} bytes", path, sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) fail_errno("socket(AF_UNIX) for {}", path);
  if (retry_eintr([&] {
        return ::connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
      }) < 0)
    fail_errno("connect to {}", path);
  return sock;
}

void send_fd(int sock, int fd, const std::string& name) {
  if (name.size() >= kMaxNameLen)
    fail("send_fd: name is {} bytes, at most {} fit", name.size(), kMaxNameLen - 1);
  // A stream socket sends no message, and so no fd, with an empty payload.
  const std::string payload = name.empty() ? std::string(1, '\0') : name;
  ssize_t n = send_with_fd(sock, fd, payload.data(), payload.size());
  if (n < 0) fail_errno("sendmsg (SCM_RIGHTS, {})", name);
  // The fd travelled with the first byte; the rest of the name, if cut short, follows plainly.
  size_t sent = static_cast<size_t>(n);
  if (sent < payload.size()) write_all(sock, payload.data() + sent, payload.size() - sent);
}

UniqueFd recv_fd(int sock) { return recv_fd(sock, nullptr); }

UniqueFd recv_fd(int sock, std::string* name) {
  char buf[kMaxNameLen];
  struct iovec iov = {buf, sizeof buf};
  // Room for several fds, so a peer that sends too many gets a clear error instead of
  // silently truncated control data; the extras are closed.
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = retry_eintr([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) fail_errno("recvmsg (SCM_RIGHTS)");

  UniqueFd out;
  size_t count = 0;
  for (struct cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < nfds; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      if (count++ == 0)
        out.reset(fd);
      else
        ::close(fd);
    }
  }
  if (n == 0 && count == 0) fail("recv_fd: the peer closed the socket without sending an fd");
  if (msg.msg_flags & MSG_CTRUNC) fail("recv_fd: control data truncated (too many fds sent)");
  if (count != 1) fail("recv_fd: expected exactly one fd, got {}", count);
  if (name != nullptr) {
    size_t len = static_cast<size_t>(n);
    while (len > 0 && buf[len - 1] == '\0') --len;
    name->assign(buf, len);
  }
  return out;
}

bool proxy_terminal(int master, int stop_fd, const std::string& detach_keys) {
  const bool tty = ::isatty(STDIN_FILENO) == 1;
  std::optional<RawMode> raw;
  std::optional<WinchFd> winch;
  if (tty) {
    raw.emplace(STDIN_FILENO);
    winch.emplace();
    copy_winsize(STDIN_FILENO, master);
  }
  NonBlocking nonblocking(master);

  char buf[16384];
  std::string pending;  // read from stdin, not yet accepted by the master
  bool stdin_open = true;
  DetachScanner detach(detach_keys);

  auto to_stdout = [&](size_t len) { write_all(STDOUT_FILENO, buf, len); };
  // Returns false once the master is gone.
  auto flush_pending = [&]() {
    while (!pending.empty()) {
      ssize_t n = ::write(master, pending.data(), pending.size());
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return true;
        if (errno == EIO) return false;
        fail_errno("write to the pty master");
      }
      pending.erase(0, static_cast<size_t>(n));
    }
    return true;
  };

  for (;;) {
    struct pollfd fds[4] = {
        {stdin_open && pending.empty() ? STDIN_FILENO : -1, POLLIN, 0},
        {master, static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
        {stop_fd, POLLIN, 0},
        {winch ? winch->get() : -1, POLLIN, 0},
    };
    if (::poll(fds, 4, -1) < 0) {
      if (errno == EINTR) continue;
      fail_errno("poll (terminal proxy)");
    }
    if (fds[1].revents & POLLNVAL) fail("terminal proxy: the pty master fd {} is not open", master);

    if (fds[2].revents != 0) {
      // What the container wrote before it was told to stop is still shown, but a container
      // that keeps writing cannot hold the caller here.
      for (int i = 0; i < 256; ++i) {
        size_t got = 0;
        if (read_master(master, buf, sizeof buf, &got) != Read::data) break;
        to_stdout(got);
      }
      return false;
    }

    if (fds[3].revents & POLLIN) {
      winch->drain();
      copy_winsize(STDIN_FILENO, master);
    }

    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      size_t got = 0;
      Read r = read_master(master, buf, sizeof buf, &got);
      if (r == Read::end) return false;
      if (r == Read::data) to_stdout(got);
    }
    if ((fds[1].revents & POLLOUT) && !flush_pending()) return false;

    if (fds[0].revents & POLLNVAL) stdin_open = false;  // no stdin at all
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n > 0) {
        pending.clear();
        bool leave = detach.feed(buf, static_cast<size_t>(n), pending);
        if (!flush_pending()) return false;
        if (leave) return true;
      } else if (n == 0 || errno == EIO) {
        // The container keeps running and its output is still shown; it just gets no more
        // input (EIO: the user's terminal hung up).
        stdin_open = false;
      } else if (errno != EAGAIN && errno != EINTR) {
        fail_errno("read from stdin (terminal proxy)");
      }
    }
  }
}

}  // namespace vessel::linux
