// Passing a file descriptor over a unix socket (SCM_RIGHTS).
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace vessel {

// One sendmsg of `data` (at least one byte: a stream socket sends no message, and so no fd,
// without a payload) carrying `fd`, retried on EINTR, without SIGPIPE. Returns the bytes sent,
// which may be fewer than `len` (the caller sends the rest plainly), or -1 with errno.
ssize_t send_with_fd(int sock, int fd, const void* data, size_t len);

}  // namespace vessel
