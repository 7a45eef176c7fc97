#include "runtime/process.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "util/file.h"

namespace vessel::runtime {

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  std::string text;
  try {
    text = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (...) {
    return std::nullopt;
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
  ProcStat st;
  st.state = text[close + 2];
  size_t pos = close + 2;
  for (int field = 3; field < 22; ++field) {
    pos = text.find(' ', pos);
    if (pos == std::string::npos) return std::nullopt;
    ++pos;
  }
  st.start_time = std::stoull(text.substr(pos));
  return st;
}

bool process_alive(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  auto st = read_proc_stat(pid);
  return st && st->start_time == start_time && st->state != 'Z' && st->state != 'X';
}

UniqueFd open_pidfd(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return {};
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return {};
  UniqueFd pidfd(fd);
  // Checked after opening: if the PID was reused before, the start time differs now.
  if (!process_alive(pid, start_time)) return {};
  return pidfd;
}

bool wait_pidfd(int pidfd, int timeout_ms) {
  struct pollfd p = {pidfd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

}  // namespace vessel::runtime
