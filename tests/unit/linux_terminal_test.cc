// Ptys, fd passing and the terminal proxy, exercised with real ptys, sockets and pipes. The
// proxy runs in a forked child whose stdin/stdout are pipes or a second pty; the test plays
// the container on the pty slave.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "linux/terminal.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

using namespace std::chrono_literals;

// Reads until `want` has been seen or the time is up; returns everything read.
std::string read_until(int fd, const std::string& want, int timeout_ms = 5000) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (got.find(want) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// A forked child that is killed (by its pid) and reaped if the test ends early.
class Child {
 public:
  explicit Child(const std::function<void()>& fn) {
    pid_ = fork();
    if (pid_ == 0) {
      int code = 0;
      try {
        fn();
      } catch (const std::exception& e) {
        fprintf(stderr, "child: %s\n", e.what());
        code = 1;
      }
      _exit(code);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The exit status, or -1 if it did not exit in time.
  int wait(int timeout_ms = 5000) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  bool running() {
    int status;
    return waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

struct Pipe {
  UniqueFd r, w;
  Pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) std::abort();
    r.reset(p[0]);
    w.reset(p[1]);
  }
};

void write_str(int fd, const std::string& s) { write_all(fd, s.data(), s.size()); }

void make_raw(int fd) {
  struct termios t;
  ASSERT_EQ(tcgetattr(fd, &t), 0);
  cfmakeraw(&t);
  ASSERT_EQ(tcsetattr(fd, TCSANOW, &t), 0);
}

std::pair<int, int> winsize_of(int fd) {
  struct winsize ws = {};
  ioctl(fd, TIOCGWINSZ, &ws);
  return {ws.ws_row, ws.ws_col};
}

TEST(LinuxTerminal, OpenPtyGivesAConnectedPairWithTheSize) {
  Pty pty = open_pty(oci::ConsoleSize{40, 100});
  ASSERT_TRUE(pty.master.valid());
  ASSERT_TRUE(pty.slave.valid());
  EXPECT_TRUE(isatty(pty.slave.get()));
  EXPECT_EQ(winsize_of(pty.slave.get()), std::make_pair(40, 100));
  EXPECT_TRUE(fcntl(pty.master.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(fcntl(pty.slave.get(), F_GETFD) & FD_CLOEXEC);

  std::string name = pty_name(pty.master.get());
  EXPECT_EQ(name.rfind("/dev/pts/", 0), 0u) << name;
  struct stat by_fd, by_name;
  ASSERT_EQ(fstat(pty.slave.get(), &by_fd), 0);
  ASSERT_EQ(stat(name.c_str(), &by_name), 0);
  EXPECT_EQ(by_fd.st_rdev, by_name.st_rdev);

  write_str(pty.slave.get(), "hello\n");
  EXPECT_EQ(read_until(pty.master.get(), "hello\r\n"), "hello\r\n");
}

TEST(LinuxTerminal, OpenPtyWithoutSizeLeavesItUnset) {
  Pty pty = open_pty(std::nullopt);
  EXPECT_EQ(winsize_of(pty.slave.get()), std::make_pair(0, 0));
}

TEST(LinuxTerminal, SendAndReceiveAWorkingFd) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  Pipe p;
  send_fd(a.get(), p.w.get(), "/dev/pts/7");
  p.w.reset();  // only the received copy remains
  std::string name;
  UniqueFd got = recv_fd(b.get(), &name);
  ASSERT_TRUE(got.valid());
  EXPECT_EQ(name, "/dev/pts/7");
  EXPECT_TRUE(fcntl(got.get(), F_GETFD) & FD_CLOEXEC);
  write_str(got.get(), "through the socket");
  got.reset();
  EXPECT_EQ(read_fd(p.r.get()), "through the socket");
}

TEST(LinuxTerminal, SendFdWithEmptyName) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  Pipe p;
  send_fd(a.get(), p.w.get(), "");
  std::string name = "unset";
  UniqueFd got = recv_fd(b.get(), &name);
  EXPECT_TRUE(got.valid());
  EXPECT_EQ(name, "");
}

TEST(LinuxTerminal, SendFdOfAPtyMasterWorksAcrossTheSocket) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  Pty pty = open_pty(std::nullopt);
  send_fd(a.get(), pty.master.get(), pty_name(pty.master.get()));
  pty.master.reset();
  UniqueFd master = recv_fd(b.get());
  make_raw(pty.slave.get());
  write_str(master.get(), "in");
  EXPECT_EQ(read_until(pty.slave.get(), "in"), "in");
  write_str(pty.slave.get(), "out");
  EXPECT_EQ(read_until(master.get(), "out"), "out");
}

TEST(LinuxTerminal, RecvFdErrors) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  write_str(a.get(), "no fd here");
  try {
    recv_fd(b.get());
    FAIL() << "received an fd from a plain message";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected exactly one fd, got 0"), std::string::npos)
        << e.what();
  }
  a.reset();
  try {
    recv_fd(b.get());
    FAIL() << "received an fd from a closed socket";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("closed"), std::string::npos) << e.what();
  }
  EXPECT_THROW(send_fd(b.get(), 0, std::string(5000, 'x')), Error);
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vessel-term-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { remove_tree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(LinuxTerminal, ConsoleSocketProtocol) {
  TempDir dir;
  std::string path = dir.path() + "/console.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);

  // The container side: a new pty whose master goes to the socket, as with --console-socket.
  Child child([&] {
    Pty pty = open_pty(oci::ConsoleSize{25, 81});
    UniqueFd sock = connect_unix(path);
    send_fd(sock.get(), pty.master.get(), pty_name(pty.master.get()));
    pty.master.reset();
    write_str(pty.slave.get(), "from the container\n");
    char c;
    [[maybe_unused]] ssize_t n = read(sock.get(), &c, 1);  // until the test closes it
  });
  UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  std::string name;
  UniqueFd master = recv_fd(conn.get(), &name);
  EXPECT_EQ(name.rfind("/dev/pts/", 0), 0u) << name;
  EXPECT_EQ(winsize_of(master.get()), std::make_pair(25, 81));
  EXPECT_EQ(read_until(master.get(), "container\r\n"), "from the container\r\n");
  conn.reset();
  EXPECT_EQ(child.wait(), 0);
}

TEST(LinuxTerminal, ConnectUnixErrors) {
  EXPECT_THROW(connect_unix("/nonexistent/vessel.sock"), Error);
  EXPECT_THROW(connect_unix("/tmp/" + std::string(200, 'a')), Error);
  EXPECT_THROW(connect_unix(""), Error);
}

TEST(LinuxTerminal, MakeControllingTerminal) {
  Pipe report;
  Pty pty = open_pty(std::nullopt);
  std::string name = pty_name(pty.master.get());
  Child child([&] {
    make_controlling_terminal(pty.slave.get());
    std::string r;
    r += tcgetsid(0) == getpid() ? "session-leader " : "not-leader ";
    for (int fd = 0; fd <= 2; ++fd) {
      r += isatty(fd) ? "tty " : "notty ";
      r += (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? "cloexec " : "inherit ";
    }
    char* t = ttyname(0);
    r += t ? t : "?";
    write_str(report.w.get(), r);
  });
  report.w.reset();
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(read_fd(report.r.get()), "session-leader tty inherit tty inherit tty inherit " + name);
}

// Runs proxy_terminal(master, stop) in a child with the given stdin and stdout.
std::unique_ptr<Child> start_proxy(int in, int out, Pty& pty, int stop,
                                   std::function<void()> setup = {}) {
  int master = pty.master.get();
  int slave = pty.slave.get();
  return std::make_unique<Child>([=] {
    if (setup) setup();
    if (in >= 0 && dup2(in, STDIN_FILENO) < 0) fail_errno("dup2 stdin");
    if (dup2(out, STDOUT_FILENO) < 0) fail_errno("dup2 stdout");
    // Nothing but the proxy may keep the slave or the pipes' other ends open.
    for (int fd = 3; fd < 1024; ++fd)
      if (fd != master && fd != stop && fd != STDERR_FILENO) close(fd);
    (void)slave;
    proxy_terminal(master, stop);
  });
}

TEST(LinuxTerminal, ProxyCopiesBothWaysUntilTheContainerCloses) {
  Pty pty = open_pty(std::nullopt);
  make_raw(pty.slave.get());
  Pipe in, out;
  auto child = start_proxy(in.r.get(), out.w.get(), pty, -1);
  in.r.reset();
  out.w.reset();
  pty.master.reset();

  write_str(in.w.get(), "ping");
  EXPECT_EQ(read_until(pty.slave.get(), "ping"), "ping");
  write_str(pty.slave.get(), "pong");
  EXPECT_EQ(read_until(out.r.get(), "pong"), "pong");
  // A large burst in both directions at once must not wedge the proxy.
  std::string big(1 << 20, 'x');
  std::thread writer([&] { write_str(in.w.get(), big); });
  std::string from_stdin = read_until(pty.slave.get(), std::string(1 << 20, 'x'), 20000);
  writer.join();
  EXPECT_EQ(from_stdin.size(), big.size());

  EXPECT_TRUE(child->running());
  pty.slave.reset();  // the container exits
  EXPECT_EQ(child->wait(), 0);
  EXPECT_EQ(read_fd(out.r.get()), "");
}

TEST(LinuxTerminal, ProxyKeepsShowingOutputAfterStdinEof) {
  Pty pty = open_pty(std::nullopt);
  make_raw(pty.slave.get());
  Pipe in, out;
  auto child = start_proxy(in.r.get(), out.w.get(), pty, -1);
  in.r.reset();
  out.w.reset();
  pty.master.reset();

  write_str(in.w.get(), "last input");
  in.w.reset();
  EXPECT_EQ(read_until(pty.slave.get(), "last input"), "last input");
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(child->running());
  write_str(pty.slave.get(), "still here");
  EXPECT_EQ(read_until(out.r.get(), "still here"), "still here");
  pty.slave.reset();
  EXPECT_EQ(child->wait(), 0);
}

TEST(LinuxTerminal, ProxyShowsFinalOutputWrittenBeforeTheSlaveCloses) {
  Pty pty = open_pty(std::nullopt);
  make_raw(pty.slave.get());
  Pipe in, out;
  write_str(pty.slave.get(), "goodbye");
  pty.slave.reset();
  auto child = start_proxy(in.r.get(), out.w.get(), pty, -1);
  in.r.reset();
  out.w.reset();
  pty.master.reset();
  EXPECT_EQ(child->wait(), 0);
  EXPECT_EQ(read_fd(out.r.get()), "goodbye");
}

TEST(LinuxTerminal, ProxyWithoutAnyStdin) {
  Pty pty = open_pty(std::nullopt);
  make_raw(pty.slave.get());
  Pipe out;
  auto child = start_proxy(-1, out.w.get(), pty, -1, [] { close(STDIN_FILENO); });
  out.w.reset();
  pty.master.reset();
  write_str(pty.slave.get(), "no stdin");
  EXPECT_EQ(read_until(out.r.get(), "no stdin"), "no stdin");
  pty.slave.reset();
  EXPECT_EQ(child->wait(), 0);
}

TEST(LinuxTerminal, ProxyStopsWhenStopFdIsReadable) {
  Pty pty = open_pty(std::nullopt);
  make_raw(pty.slave.get());
  Pipe in, out, stop;
  auto child = start_proxy(in.r.get(), out.w.get(), pty, stop.r.get());
  in.r.reset();
  out.w.reset();
  stop.r.reset();
  pty.master.reset();

  write_str(pty.slave.get(), "before stop");
  write_str(stop.w.get(), "x");
  EXPECT_EQ(child->wait(), 0);  // the slave is still open
  EXPECT_EQ(read_fd(out.r.get()), "before stop");
}

TEST(LinuxTerminal, ProxyRawModeAndWindowSizeForwarding) {
  // The user's terminal is a second pty, made the proxy's controlling tty so that resizing it
  // sends SIGWINCH to the proxy.
  Pty user = open_pty(oci::ConsoleSize{24, 80});
  Pty pty = open_pty(std::nullopt);
  make_raw(pty.slave.get());
  struct termios before;
  ASSERT_EQ(tcgetattr(user.slave.get(), &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);

  Pipe out;
  int user_slave = user.slave.get();
  auto child = start_proxy(user_slave, out.w.get(), pty, -1, [user_slave] {
    if (setsid() < 0) fail_errno("setsid");
    if (ioctl(user_slave, TIOCSCTTY, 0) < 0) fail_errno("TIOCSCTTY");
  });
  out.w.reset();
  pty.master.reset();

  // The initial size is copied once the proxy is running (and listening for SIGWINCH).
  for (int i = 0; i < 500 && winsize_of(pty.slave.get()) != std::make_pair(24, 80); ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(winsize_of(pty.slave.get()), std::make_pair(24, 80));
  struct termios during;
  ASSERT_EQ(tcgetattr(user.slave.get(), &during), 0);
  EXPECT_FALSE(during.c_lflag & ICANON);
  EXPECT_FALSE(during.c_lflag & ECHO);

  struct winsize ws = {};
  ws.ws_row = 50;
  ws.ws_col = 132;
  ASSERT_EQ(ioctl(user.master.get(), TIOCSWINSZ, &ws), 0);
  for (int i = 0; i < 500 && winsize_of(pty.slave.get()) != std::make_pair(50, 132); ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(winsize_of(pty.slave.get()), std::make_pair(50, 132));

  // Raw: a ^C typed by the user reaches the container as a byte, not as SIGINT to the proxy.
  write_str(user.master.get(), "\x03typed");
  EXPECT_EQ(read_until(pty.slave.get(), "typed"), "\x03typed");
  write_str(pty.slave.get(), "shown");
  EXPECT_EQ(read_until(out.r.get(), "shown"), "shown");

  pty.slave.reset();
  EXPECT_EQ(child->wait(), 0);
  struct termios after;
  ASSERT_EQ(tcgetattr(user.slave.get(), &after), 0);
  EXPECT_TRUE(after.c_lflag & ICANON);
  EXPECT_TRUE(after.c_lflag & ECHO);
}

}  // namespace
}  // namespace vessel::linux
