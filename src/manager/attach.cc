#include "manager/attach.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

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

}  // namespace vessel::manager
