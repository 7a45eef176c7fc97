#include "harness_console.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace itest {

using vessel::UniqueFd;

UniqueFd listen_unix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    ADD_FAILURE() << "socket path too long: " << path;
    return {};
  }
  std::strcpy(a.sun_path, path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd.get(), 4) != 0) {
    ADD_FAILURE() << "listen on " << path << ": " << strerror(errno);
    return {};
  }
  return fd;
}

ConsoleListener::ConsoleListener(const std::string& path) : fd_(listen_unix(path)) {}

UniqueFd ConsoleListener::accept_master(Millis timeout) {
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

std::string read_pty_until(int master, const std::string& marker, Millis timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!contains(out, marker)) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t r = ::read(master, buf, sizeof buf);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

}  // namespace itest
