#include "linux/sync.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "util/error.h"
#include "util/fd_passing.h"

namespace vessel::linux {
namespace {

struct Header {
  SyncMsg type;
  uint32_t pad;
  int64_t value;
};

constexpr size_t kMaxMessage = 64 * 1024;

}  // namespace

std::pair<SyncChannel, SyncChannel> SyncChannel::make_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
    fail_errno("socketpair for the setup channel");
  return {SyncChannel(UniqueFd(fds[0])), SyncChannel(UniqueFd(fds[1]))};
}

void SyncChannel::send(SyncMsg type, int64_t value, const std::string& text) const {
  std::string buf(sizeof(Header), '\0');
  Header h{type, 0, value};
  std::memcpy(buf.data(), &h, sizeof h);
  buf += text.substr(0, kMaxMessage - sizeof h);
  if (retry_eintr([&] { return ::send(fd_.get(), buf.data(), buf.size(), MSG_NOSIGNAL); }) < 0)
    fail_errno("send on the setup channel");
}

void SyncChannel::send_with_fd(SyncMsg type, int fd) const {
  Header h{type, 0, 0};
  if (vessel::send_with_fd(fd_.get(), fd, &h, sizeof h) < 0)
    fail_errno("send an fd on the setup channel");
}

SyncMessage SyncChannel::recv(const char* what) const {
  std::string buf(kMaxMessage, '\0');
  ssize_t n = retry_eintr([&] { return ::recv(fd_.get(), buf.data(), buf.size(), 0); });
  if (n < 0) fail_errno("{}: receive on the setup channel", what);
  if (n == 0) fail("{}: the container process exited during set-up", what);
  if (static_cast<size_t>(n) < sizeof(Header)) fail("{}: short message on the setup channel", what);
  Header h;
  std::memcpy(&h, buf.data(), sizeof h);
  return SyncMessage{h.type, h.value, buf.substr(sizeof h, static_cast<size_t>(n) - sizeof h)};
}

SyncMessage SyncChannel::expect(SyncMsg type, const char* what) const {
  SyncMessage m = recv(what);
  if (m.type == SyncMsg::error) throw Error(m.text, static_cast<int>(m.value));
  if (m.type != type)
    fail("{}: unexpected message {} on the setup channel", what, static_cast<uint32_t>(m.type));
  return m;
}

UniqueFd SyncChannel::recv_fd(SyncMsg expected) const {
  std::string buf(kMaxMessage, '\0');
  struct iovec iov = {buf.data(), buf.size()};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = retry_eintr([&] { return ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) fail_errno("receive an fd on the setup channel");
  if (n == 0) fail("the container process exited during set-up");
  // Whatever arrived is owned here first, so no path below leaks it.
  UniqueFd out;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    out.reset(fd);
  }
  if (static_cast<size_t>(n) < sizeof(Header)) fail("short message on the setup channel");
  Header h;
  std::memcpy(&h, buf.data(), sizeof h);
  if (h.type == SyncMsg::error)
    throw Error(buf.substr(sizeof h, static_cast<size_t>(n) - sizeof h), static_cast<int>(h.value));
  if (h.type != expected)
    fail("unexpected message {} on the setup channel while waiting for an fd",
         static_cast<uint32_t>(h.type));
  if (!out) fail("the setup channel message carried no fd");
  return out;
}

void SyncChannel::enable_credentials() const {
  int one = 1;
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
    fail_errno("setsockopt(SO_PASSCRED) on the setup channel");
}

void SyncChannel::send_own_pid(SyncMsg type) const {
  Header h{type, 0, 0};
  struct ucred cred = {::getpid(), ::getuid(), ::getgid()};
  if (vessel::send_with_control(fd_.get(), SCM_CREDENTIALS, &cred, sizeof cred, &h, sizeof h) < 0)
    fail_errno("send the container's PID on the setup channel");
}

pid_t SyncChannel::recv_pid(SyncMsg expected, const char* what) const {
  char buf[kMaxMessage];
  struct iovec iov = {buf, sizeof buf};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = retry_eintr([&] { return ::recvmsg(fd_.get(), &msg, 0); });
  if (n < 0) fail_errno("{}: receive on the setup channel", what);
  if (n == 0) fail("{}: the container process exited during set-up", what);
  if (static_cast<size_t>(n) < sizeof(Header)) fail("{}: short message", what);
  Header h;
  std::memcpy(&h, buf, sizeof h);
  if (h.type == SyncMsg::error)
    throw Error(std::string(buf + sizeof h, static_cast<size_t>(n) - sizeof h));
  if (h.type != expected) fail("{}: unexpected message on the setup channel", what);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      struct ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      return cred.pid;
    }
  }
  fail("{}: the message carried no credentials", what);
}

}  // namespace vessel::linux
