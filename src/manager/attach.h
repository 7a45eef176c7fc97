// The stream between a container's monitor and the `vessel` commands attached to it
// (run in the foreground, start -a, attach): frames of [type:1][length:4, big endian][data].
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vessel::manager {

enum class Frame : uint8_t {
  stdin_data = 0,  // client -> monitor
  stdout_data = 1,
  stderr_data = 2,
  exited = 3,     // data: the exit code in decimal
  started = 4,    // data: the container's host PID in decimal
  error = 5,      // data: why the start failed
  resize = 6,     // client -> monitor, data: "ROWS COLS"
  stdin_eof = 7,  // client -> monitor
};

struct FrameMsg {
  Frame type;
  std::string data;
};

// Both return false when the peer is gone (EPIPE, ECONNRESET, EOF).
bool write_frame(int fd, Frame type, const std::string& data);
std::optional<FrameMsg> read_frame(int fd);

}  // namespace vessel::manager
