// Putting a new process into the container's cgroups without writing its PID to cgroup.procs.
//
// A write of another process's PID to cgroup.procs (v1 or v2) takes the kernel's global
// cgroup_threadgroup_rwsem for writing, and taking that percpu rwsem waits for an RCU grace
// period: 9-15 ms per container start on a 2-core VM, the largest single item of a `run`
// (bench/README.md). Two ways in skip that lock, and the runtime uses them when it can:
//   * cgroup2: the process is born in its cgroup, clone3(CLONE_INTO_CGROUP) with an fd of the
//     directory (Linux 5.7); the fork path takes the same rwsem for reading only.
//   * cgroup v1: a single-threaded process moves itself by writing "0" to the hierarchy's
//     `tasks` file, which migrates one thread (the caller) and needs no threadgroup lock.
// Anything else (an older kernel, an error, the systemd driver) falls back to the parent
// writing the PID, which reports errors as before.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/fd.h"

namespace vessel::cgroups {

struct Placement {
  // The container's cgroup2 directory (O_PATH), for clone3(CLONE_INTO_CGROUP); empty when the
  // container has no cgroup2 directory.
  UniqueFd unified;
  // (path, fd open for writing) of the container's `tasks` file in each v1 hierarchy, for the
  // new process to write "0" into. Opened by the parent, so the new process can use them from
  // inside its namespaces, and checked against the opener's credentials.
  std::vector<std::pair<std::string, UniqueFd>> v1_tasks;
};

// clone3() with CLONE_INTO_CGROUP into `cgroup_dir` (or none, -1), fork-like (no new stack),
// with SIGCHLD. Returns the PID, 0 in the child, or -1 with errno (ENOSYS, E2BIG on kernels
// without CLONE_INTO_CGROUP, or whatever keeps the process out of that cgroup).
long clone_into_cgroup(unsigned long flags, int cgroup_dir);

// In the new process: moves this (single-threaded) process into every v1 hierarchy's cgroup
// of `p` by writing "0" to its `tasks` fd, and closes every fd of `p` (none of them may reach
// the container's program). Throws vessel::Error naming the file on failure.
void enter_v1_cgroups_by_self(Placement& p);

}  // namespace vessel::cgroups
