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

// After a monitor's last frame (`exited`, or `error` for a start that failed): waits until
// the monitor process has ended, which the kernel signals by closing the monitor's end of
// the stream when the process exits (vessel-monitor-ctl leaves its clients' fds open for
// that). What the monitor does after its last frame (for --rm: the attach socket, the
// store's database) is then done. Returns at end-of-file, or after `timeout_ms`.
void wait_for_monitor_end(int fd, int timeout_ms);
// How long a command waits for that: a bound for a monitor that hangs, never reached otherwise.
inline constexpr int kMonitorEndTimeoutMs = 30000;

}  // namespace vessel::manager
