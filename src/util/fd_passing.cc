#include "util/fd_passing.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace vessel {

ssize_t send_with_control(int sock, int type, const void* control_data, size_t control_len,
                          const void* data, size_t len) {
  constexpr size_t kMaxControl = 64;
  if (control_len > kMaxControl) {
    errno = EINVAL;
    return -1;
  }
  struct iovec iov = {const_cast<void*>(data), len};
  alignas(struct cmsghdr) char control[CMSG_SPACE(kMaxControl)] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(control_len);
  struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = type;
  cm->cmsg_len = CMSG_LEN(control_len);
  std::memcpy(CMSG_DATA(cm), control_data, control_len);
  return retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
}

ssize_t send_with_fd(int sock, int fd, const void* data, size_t len) {
  return send_with_control(sock, SCM_RIGHTS, &fd, sizeof fd, data, len);
}

}  // namespace vessel
