#include "cgroups/placement.h"

#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "util/error.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

namespace vessel::cgroups {
namespace {

// struct clone_args as of Linux 5.7 (CLONE_ARGS_SIZE_VER2), spelled out so that older
// kernel headers build too.
struct CloneArgs {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};

}  // namespace

long clone_into_cgroup(unsigned long flags, int cgroup_dir) {
#ifdef SYS_clone3
  CloneArgs args;
  std::memset(&args, 0, sizeof args);
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  if (cgroup_dir >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_dir);
  }
  return ::syscall(SYS_clone3, &args, sizeof args);
#else
  (void)flags;
  (void)cgroup_dir;
  errno = ENOSYS;
  return -1;
#endif
}

void enter_v1_cgroups_by_self(Placement& p) {
  p.unified.reset();
  for (auto& [path, fd] : p.v1_tasks) {
    if (!fd) continue;
    // "0": the calling thread, which is the whole process here.
    if (retry_eintr([&] { return ::write(fd.get(), "0", 1); }) != 1)
      fail_errno("join cgroup: write 0 to {}", path);
    fd.reset();
  }
}

}  // namespace vessel::cgroups
