#include "manager/attach.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "util/file.h"

namespace vessel::manager {

static bool read_full(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool write_frame(int fd, Frame type, const std::string& data) {
  char hdr[5];
  hdr[0] = static_cast<char>(type);
  uint32_t len = static_cast<uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) hdr[1 + i] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
  std::string buf(hdr, sizeof hdr);
  buf += data;
  return send_all(fd, buf.data(), buf.size());
}

std::optional<FrameMsg> read_frame(int fd) {
  unsigned char hdr[5];
  if (!read_full(fd, reinterpret_cast<char*>(hdr), sizeof hdr)) return std::nullopt;
  uint32_t len = (uint32_t{hdr[1]} << 24) | (uint32_t{hdr[2]} << 16) | (uint32_t{hdr[3]} << 8) |
                 uint32_t{hdr[4]};
  if (len > (16u << 20)) return std::nullopt;  // not a peer we understand
  std::string data(len, '\0');
  if (len && !read_full(fd, data.data(), len)) return std::nullopt;
  return FrameMsg{static_cast<Frame>(hdr[0]), std::move(data)};
}

void wait_for_monitor_end(int fd, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return;
    pollfd p = {fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    ssize_t n = ::read(fd, buf, sizeof buf);  // nothing more is expected; dropped
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

}  // namespace vessel::manager
