// Terminals: `create --console-socket` with process.terminal=true sends the pty master over a
// unix socket (SCM_RIGHTS); the program's output is read from the master.
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "harness.h"
#include "util/fd.h"

namespace itest {
namespace {

using vessel::UniqueFd;

// Listens on a unix socket; accept_master() takes one connection and receives one fd.
class ConsoleListener {
 public:
  explicit ConsoleListener(const std::string& path) : path_(path) {
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) {
      ADD_FAILURE() << "socket path too long: " << path;
      return;
    }
    std::strcpy(a.sun_path, path.c_str());
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_.get(), 4) != 0)
      ADD_FAILURE() << "listen on " << path << ": " << strerror(errno);
  }

  // Returns the received fd, or an invalid one after `timeout`.
  UniqueFd accept_master(Millis timeout) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return {};
    UniqueFd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return {};
    pollfd q{conn.get(), POLLIN, 0};
    if (::poll(&q, 1, static_cast<int>(timeout.count())) != 1) return {};
    char data[4096];
    iovec iov{data, sizeof data};
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl;
    msg.msg_controllen = sizeof ctl;
    if (::recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC) < 0) return {};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        return UniqueFd(fd);
      }
    }
    return {};
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

// Reads from the pty master until `marker` shows up, EOF/EIO, or the timeout.
std::string read_until(int fd, const std::string& marker, Millis timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!contains(out, marker)) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n <= 0) break;
    char buf[4096];
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

class ConsoleTest : public ContainerTest {};

TEST_F(ConsoleTest, ConsoleSocketReceivesPtyMaster) {
  const std::string sock = dir() + "/console.sock";
  ConsoleListener listener(sock);
  json cfg = config({"sh", "-c",
                     "echo hello-from-tty; tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] &&"
                     " echo all-tty; echo \"console $(stat -c %t:%T /dev/console)"
                     " $(stat -L -c %t:%T /proc/self/fd/0)\"; echo @@END@@; sleep 2"});
  cfg["process"]["terminal"] = true;
  cfg["process"]["consoleSize"] = {{"height", 30}, {"width", 100}};
  const std::string id = new_id("tty");

  UniqueFd master;
  std::thread acceptor([&] { master = listener.accept_master(kTimeout); });
  Result c = create(id, write_bundle(cfg), {"--console-socket", sock});
  acceptor.join();
  ASSERT_TRUE(c.ok()) << c.describe();
  ASSERT_TRUE(master.valid()) << "no fd received on the console socket";

  unsigned int ptn = 0;
  EXPECT_EQ(::ioctl(master.get(), TIOCGPTN, &ptn), 0) << "the received fd is not a pty master";

  Result s = rt({"start", id});
  ASSERT_TRUE(s.ok()) << s.describe();
  std::string out = read_until(master.get(), "@@END@@", kTimeout);
  SCOPED_TRACE("terminal output: " + out);
  auto lines = split_lines(out);
  auto has = [&](const std::string& l) {
    return std::find(lines.begin(), lines.end(), l) != lines.end();
  };
  EXPECT_TRUE(has("hello-from-tty"));
  EXPECT_TRUE(has("/dev/pts/" + std::to_string(ptn))) << "tty is not the received pty";
  EXPECT_TRUE(has("30 100")) << "consoleSize not applied";
  EXPECT_TRUE(has("all-tty")) << "stdin/stdout/stderr are not the terminal";
  // /dev/console is the container's pty (pts major 136 = 0x88).
  std::string console_line;
  for (const auto& l : lines)
    if (l.rfind("console ", 0) == 0) console_line = l;
  std::string want = "88:" + [&] {
    char b[16];
    snprintf(b, sizeof b, "%x", ptn);
    return std::string(b);
  }();
  EXPECT_EQ(console_line, "console " + want + " " + want);
  Result k = rt({"kill", id, "KILL"});
  EXPECT_TRUE(k.ok()) << k.describe();
  EXPECT_TRUE(wait_status(id, "stopped"));
}

TEST_F(ConsoleTest, TerminalWithoutConsoleSocketFailsCreate) {
  json cfg = config({"true"});
  cfg["process"]["terminal"] = true;
  const std::string id = new_id("tty");
  HostSnapshot before = snapshot();
  Result c = create(id, write_bundle(cfg));
  EXPECT_NE(c.exit_code(), 0) << c.describe();
  EXPECT_FALSE(c.timed_out);
  expect_nothing_left(before, id, cfg["linux"]["cgroupsPath"]);
}

}  // namespace
}  // namespace itest
