// Facts about host processes that survive PID reuse: start times and pidfds.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "util/fd.h"

namespace vessel::runtime {

struct ProcStat {
  char state = '?';         // R, S, D, Z, ...
  uint64_t start_time = 0;  // clock ticks after boot
};

std::optional<ProcStat> read_proc_stat(pid_t pid);
// True while `pid` is the process that started at `start_time` and has not exited.
bool process_alive(pid_t pid, uint64_t start_time);
// A pidfd for `pid` if it is still the same process; empty when it is gone.
UniqueFd open_pidfd(pid_t pid, uint64_t start_time);
// Waits up to `timeout_ms` for the process behind the pidfd to exit. True when it did.
bool wait_pidfd(int pidfd, int timeout_ms);

}  // namespace vessel::runtime
