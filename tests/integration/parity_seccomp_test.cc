// Parity with runc 1.1 for seccomp: syscalls numbered above the highest one a profile names
// fail with ENOSYS instead of the default action (so a C library falls back to the older
// syscall), and the error for a seccomp agent that cannot be reached names what runc's does.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include "harness.h"
#include "util/fd.h"

namespace itest {
namespace {

using vessel::UniqueFd;

// Old syscalls, all numbered below 434 on x86_64, i386 and x32, enough for the runtime's own
// init after the filter is loaded (without noNewPrivileges it is loaded before the capability
// drop and the user switch), for runc's Go init, and for a static glibc program.
const std::vector<std::string> kOldSyscalls = {
    "read",
    "write",
    "open",
    "openat",
    "close",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "fstatat64",
    "stat64",
    "fstat64",
    "lstat64",
    "statx",
    "lseek",
    "_llseek",
    "mmap",
    "mmap2",
    "mprotect",
    "munmap",
    "brk",
    "madvise",
    "mremap",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigreturn",
    "sigaltstack",
    "ioctl",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "access",
    "faccessat",
    "pipe",
    "pipe2",
    "select",
    "_newselect",
    "pselect6",
    "poll",
    "ppoll",
    "sched_yield",
    "sched_getaffinity",
    "dup",
    "dup2",
    "dup3",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "getitimer",
    "setitimer",
    "alarm",
    "getpid",
    "getppid",
    "gettid",
    "getpgrp",
    "getpgid",
    "setpgid",
    "getsid",
    "setsid",
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "socketcall",
    "clone",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "waitpid",
    "kill",
    "tkill",
    "tgkill",
    "uname",
    "fcntl",
    "fcntl64",
    "flock",
    "fsync",
    "fdatasync",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "renameat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "chown32",
    "fchown32",
    "lchown32",
    "umask",
    "getrlimit",
    "ugetrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "sysinfo",
    "times",
    "getuid",
    "getgid",
    "geteuid",
    "getegid",
    "getuid32",
    "getgid32",
    "geteuid32",
    "getegid32",
    "setuid",
    "setgid",
    "setuid32",
    "setgid32",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setresuid32",
    "setresgid32",
    "getresuid",
    "getresgid",
    "getresuid32",
    "getresgid32",
    "getgroups",
    "setgroups",
    "getgroups32",
    "setgroups32",
    "capget",
    "capset",
    "prctl",
    "arch_prctl",
    "set_thread_area",
    "get_thread_area",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "futex",
    "futex_time64",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "eventfd2",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "inotify_init1",
    "statfs",
    "fstatfs",
    "statfs64",
    "fstatfs64",
    "getrandom",
    "rseq",
    "restart_syscall",
    "sched_getparam",
    "sched_getscheduler",
    "getpriority",
    "setpriority",
    "personality",
    "seccomp",
    "membarrier",
    "pidfd_open",  // 434 everywhere: the highest syscall of this profile
};

// x86_64 numbers (the test runs on x86_64 only).
constexpr long kClone3 = 435, kCloseRange = 436, kOpenat2 = 437, kFaccessat2 = 439;
constexpr long kAcct = 163;  // old, and not in the profile
constexpr long kX32Bit = 0x40000000;
// x32 numbers its compat syscalls 512 to 547 (execveat, in the profile, is 545): the x32
// syscalls newer than the profile are those above that, e.g. 600 (none yet).
constexpr long kX32Unassigned = 600;

json old_syscalls_profile(bool with_architectures) {
  json p = {{"defaultAction", "SCMP_ACT_ERRNO"},
            {"syscalls", {{{"names", kOldSyscalls}, {"action", "SCMP_ACT_ALLOW"}}}}};
  if (with_architectures)
    p["architectures"] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  return p;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class ParitySeccompTest : public ContainerTest {
 protected:
  // Runs the static syscall probe in a container under `profile` and returns what each
  // number answered (number as passed -> errno, 0 for success).
  std::map<std::string, int> probe(const json& profile, bool nnp,
                                   const std::vector<std::string>& numbers) {
    std::map<std::string, int> out;
#ifndef VESSEL_SYSCALL_PROBE_BIN
    ADD_FAILURE() << "built without the syscall probe";
    return out;
#else
    const std::string copy = shared_dir() + "/syscall-probe";
    if (!exists(copy)) {
      Result cp = run_cmd({"cp", VESSEL_SYSCALL_PROBE_BIN, copy});
      EXPECT_TRUE(cp.ok()) << cp.describe();
    }
    std::vector<std::string> args = {"/shared/syscall-probe"};
    args.insert(args.end(), numbers.begin(), numbers.end());
    json cfg = config(args);
    cfg["process"]["noNewPrivileges"] = nnp;
    cfg["linux"]["seccomp"] = profile;
    Result r = run_container(cfg);
    EXPECT_TRUE(r.ok()) << r.describe();
    for (const std::string& line : split_lines(r.out)) {
      auto space = line.find(' ');
      if (space == std::string::npos) continue;
      out[line.substr(0, space)] = std::stoi(line.substr(space + 1));
    }
    EXPECT_EQ(out.size(), numbers.size()) << r.describe();
    return out;
#endif
  }
};

std::string num(long n) { return std::to_string(n); }

// defaultAction SCMP_ACT_ERRNO (EPERM) with the x86 architectures listed: clone3, close_range,
// openat2 and faccessat2 are numbered above the profile's highest syscall and get ENOSYS, so
// a C library falls back to clone, close, openat and faccessat; acct, old and unlisted, still
// gets the default action. x32 is compared with its own highest syscall. Both load orders of
// the filter.
TEST_F(ParitySeccompTest, SyscallsNewerThanTheProfileFailWithEnosys) {
#ifndef __x86_64__
  GTEST_SKIP() << "syscall numbers are x86_64's";
#endif
  const std::vector<std::string> numbers = {num(kClone3),
                                            num(kCloseRange),
                                            num(kOpenat2),
                                            num(kFaccessat2),
                                            num(kAcct),
                                            num(kX32Bit | kX32Unassigned),
                                            num(kX32Bit | kCloseRange),
                                            num(kX32Bit | kAcct)};
  for (bool nnp : {true, false}) {
    SCOPED_TRACE(nnp ? "noNewPrivileges" : "without noNewPrivileges");
    auto got = probe(old_syscalls_profile(true), nnp, numbers);
    EXPECT_EQ(got[num(kClone3)], ENOSYS) << "clone3";
    EXPECT_EQ(got[num(kCloseRange)], ENOSYS) << "close_range";
    EXPECT_EQ(got[num(kOpenat2)], ENOSYS) << "openat2";
    EXPECT_EQ(got[num(kFaccessat2)], ENOSYS) << "faccessat2";
    EXPECT_EQ(got[num(kAcct)], EPERM) << "acct: old and not listed, the default action";
    EXPECT_EQ(got[num(kX32Bit | kX32Unassigned)], ENOSYS) << "x32, above its highest (545)";
    EXPECT_EQ(got[num(kX32Bit | kCloseRange)], EPERM) << "x32 close_range: below execveat";
    EXPECT_EQ(got[num(kX32Bit | kAcct)], EPERM) << "x32 acct";
  }
}

// The stub covers the architectures the profile lists, as runc's does: a profile without
// "architectures" has none, so the default action applies to every syscall it does not name.
// A defaultErrnoRet is that default action's errno, also for old syscalls.
TEST_F(ParitySeccompTest, OnlyListedArchitecturesAndTheDefaultErrnoRet) {
#ifndef __x86_64__
  GTEST_SKIP() << "syscall numbers are x86_64's";
#endif
  auto got = probe(old_syscalls_profile(false), true, {num(kCloseRange), num(kAcct)});
  EXPECT_EQ(got[num(kCloseRange)], EPERM) << "no architectures listed: no ENOSYS stub";
  EXPECT_EQ(got[num(kAcct)], EPERM);

  json p = old_syscalls_profile(true);
  p["defaultErrnoRet"] = EROFS;
  got = probe(p, true, {num(kCloseRange), num(kAcct)});
  EXPECT_EQ(got[num(kCloseRange)], ENOSYS);
  EXPECT_EQ(got[num(kAcct)], EROFS);
}

// A permissive default action gets no stub: a rule naming an old syscall does not turn newer
// ones into ENOSYS (close_range really runs, on no fd: success).
TEST_F(ParitySeccompTest, PermissiveDefaultActionsGetNoStub) {
#ifndef __x86_64__
  GTEST_SKIP() << "syscall numbers are x86_64's";
#endif
  for (const char* action : {"SCMP_ACT_ALLOW", "SCMP_ACT_LOG"}) {
    SCOPED_TRACE(action);
    json p = {{"defaultAction", action},
              {"architectures", {"SCMP_ARCH_X86_64"}},
              {"syscalls", {{{"names", {"acct"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
    // close_range(0, 0, 0) closes stdin, harmless here.
    auto got = probe(p, true, {num(kCloseRange), num(kAcct)});
    EXPECT_EQ(got[num(kCloseRange)], 0) << "close_range must run";
    EXPECT_EQ(got[num(kAcct)], EPERM);
  }
}

json notify_profile(const std::string& listener) {
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"listenerPath", listener},
          {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
}

// runc 1.1: "failed to connect with seccomp agent specified in the seccomp profile: dial unix
// PATH: connect: no such file or directory" (or "connection refused"). The same facts here:
// that phrase, the path and the errno text; and nothing is left behind.
TEST_F(ParitySeccompTest, UnreachableAgentErrorNamesRuncsFacts) {
  // A socket file nobody listens on: bound, never listen()ed, so connect is refused.
  const std::string refusing = dir() + "/refusing.sock";
  UniqueFd bound(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  ASSERT_LT(refusing.size(), sizeof a.sun_path);
  std::strcpy(a.sun_path, refusing.c_str());
  ASSERT_EQ(::bind(bound.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {dir() + "/missing.sock", "no such file or directory"},
      {refusing, "connection refused"},
  };
  for (const auto& [path, why] : cases) {
    SCOPED_TRACE(path);
    HostSnapshot before = snapshot();
    json cfg = config({"true"});
    cfg["linux"]["seccomp"] = notify_profile(path);
    std::string cg = cfg["linux"]["cgroupsPath"];
    std::string id = new_id("agent");
    Result r = rt({"create", "-b", write_bundle(cfg), id});
    EXPECT_FALSE(r.ok()) << r.describe();
    const std::string err = lower(r.err);
    EXPECT_TRUE(contains(err,
                         "failed to connect with seccomp agent specified in the seccomp "
                         "profile"))
        << r.describe();
    EXPECT_TRUE(contains(r.err, path)) << r.describe();
    EXPECT_TRUE(contains(err, why)) << r.describe();
    expect_nothing_left(before, id, cg);
  }
}

}  // namespace
}  // namespace itest
