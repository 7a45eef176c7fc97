// Passing a file descriptor (SCM_RIGHTS) or credentials (SCM_CREDENTIALS) over a unix socket.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace vessel {

// One sendmsg of `data` (at least one byte: a stream socket sends no message, and so no fd,
// without a payload) carrying `fd`, retried on EINTR, without SIGPIPE. Returns the bytes sent,
// which may be fewer than `len` (the caller sends the rest plainly), or -1 with errno.
ssize_t send_with_fd(int sock, int fd, const void* data, size_t len);

// The same with one control message of SOL_SOCKET type `type` (SCM_RIGHTS, SCM_CREDENTIALS)
// carrying `control_len` bytes (at most 64).
ssize_t send_with_control(int sock, int type, const void* control_data, size_t control_len,
                          const void* data, size_t len);

}  // namespace vessel
