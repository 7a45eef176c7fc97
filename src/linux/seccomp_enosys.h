// Syscalls newer than a seccomp profile fail with ENOSYS, as with runc.
//
// A profile lists the syscalls it knows about; anything else gets its default action, often
// EPERM. A C library that tries a new syscall (clone3, faccessat2, close_range, openat2...)
// falls back to the older one only on ENOSYS, so EPERM breaks programs that would work with
// the old syscall. runc 1.1 therefore puts a small cBPF stub in front of libseccomp's program:
// for every architecture the profile lists, a syscall numbered above the highest one the
// profile names for that architecture returns ENOSYS; everything else runs libseccomp's
// program unchanged. There is no stub when the default action lets syscalls through
// (SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_TRACE) or already answers ENOSYS, and none for an
// architecture the profile does not list (as runc, which only looks at the listed ones).
//
// Because libseccomp cannot load a program it did not generate, the combined program is
// loaded here with seccomp(2), with the flags libseccomp would have used.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "linux/seccomp.h"
#include "util/fd.h"

namespace vessel::linux {

// The x32 ABI runs on AUDIT_ARCH_X86_64 with this bit set in the syscall number.
inline constexpr uint32_t kX32SyscallBit = 0x40000000;

// The stub for `filter`, ending where libseccomp's program must follow (its last jumps go to
// the instruction after it); empty when no stub applies.
std::vector<sock_filter> enosys_stub(const SeccompFilter& filter);

// The program libseccomp generated for the filter context `ctx` (a scmp_filter_ctx).
std::vector<sock_filter> export_seccomp_program(void* ctx);

// The SECCOMP_FILTER_FLAG_* bits loading `filter` needs (LOG, SPEC_ALLOW, NEW_LISTENER,
// WAIT_KILLABLE_RECV); never TSYNC: the init and exec'd processes are single-threaded.
unsigned long seccomp_load_flags(const SeccompFilter& filter);

// Loads `program` into the calling thread with seccomp(SECCOMP_SET_MODE_FILTER, flags).
// Returns the notification listener (close-on-exec) when flags has NEW_LISTENER.
UniqueFd load_seccomp_program(const std::vector<sock_filter>& program, unsigned long flags);

}  // namespace vessel::linux
