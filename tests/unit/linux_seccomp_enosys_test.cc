// The ENOSYS stub in front of libseccomp's program (linux/seccomp_enosys.h): run through a
// small cBPF interpreter for every architecture it handles, and loaded for real in forked
// children on this host.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "linux/seccomp.h"
#include "linux/seccomp_enosys.h"
#include "util/error.h"

namespace vessel::linux {
namespace {

using json = nlohmann::json;

// What the interpreter returns when the stub falls through to where libseccomp's program
// would start.
constexpr uint32_t kReachedProgram = 0x7fff1234;
constexpr uint32_t kEnosys = SCMP_ACT_ERRNO(ENOSYS);

// Runs `prog` (only the instructions the stub uses) on a seccomp_data with `arch` and `nr`.
uint32_t run(std::vector<sock_filter> prog, uint32_t arch, uint32_t nr) {
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, kReachedProgram));
  uint32_t acc = 0;
  for (size_t pc = 0; pc < prog.size();) {
    const sock_filter& i = prog[pc];
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (i.k == 0)
          acc = nr;
        else if (i.k == 4)
          acc = arch;
        else
          ADD_FAILURE() << "load of offset " << i.k;
        ++pc;
        break;
      case BPF_JMP | BPF_JA:
        pc += 1 + i.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += 1 + (acc == i.k ? i.jt : i.jf);
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += 1 + (acc > i.k ? i.jt : i.jf);
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += 1 + ((acc & i.k) ? i.jt : i.jf);
        break;
      case BPF_RET | BPF_K:
        return i.k;
      default:
        ADD_FAILURE() << "unexpected instruction code " << i.code << " at " << pc;
        return 0;
    }
  }
  ADD_FAILURE() << "ran off the end of the program";
  return 0;
}

json profile(const char* default_action, json archs, std::vector<std::string> names) {
  json p = {{"defaultAction", default_action},
            {"syscalls", {{{"names", names}, {"action", "SCMP_ACT_ALLOW"}}}}};
  if (!archs.is_null()) p["architectures"] = archs;
  return p;
}

std::vector<sock_filter> stub_for(const json& p) { return enosys_stub(parse_seccomp(p)); }

constexpr uint32_t kX32 = kX32SyscallBit;

// pidfd_open is 434 on every architecture here, clone3 435.
TEST(LinuxSeccompEnosys, EachListedArchitectureAgainstItsOwnHighestSyscall) {
  auto stub = stub_for(profile(
      "SCMP_ACT_ERRNO",
      {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"},
      {"read", "pidfd_open"}));
  ASSERT_FALSE(stub.empty());
  for (uint32_t arch : std::vector<uint32_t>{AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64,
                                             AUDIT_ARCH_ARM}) {
    SCOPED_TRACE(arch);
    EXPECT_EQ(run(stub, arch, 435), kEnosys);
    EXPECT_EQ(run(stub, arch, 1000), kEnosys);
    EXPECT_EQ(run(stub, arch, 434), kReachedProgram);
    EXPECT_EQ(run(stub, arch, 0), kReachedProgram);
  }
  EXPECT_EQ(run(stub, AUDIT_ARCH_X86_64, kX32 | 435), kEnosys);
  EXPECT_EQ(run(stub, AUDIT_ARCH_X86_64, kX32 | 434), kReachedProgram);
  EXPECT_EQ(run(stub, AUDIT_ARCH_X86_64, kX32 | 0), kReachedProgram);
  // Not listed: libseccomp's program decides (it refuses foreign architectures).
  EXPECT_EQ(run(stub, AUDIT_ARCH_S390X, 1000), kReachedProgram);
  EXPECT_EQ(run(stub, AUDIT_ARCH_PPC64LE, 1000), kReachedProgram);
}

TEST(LinuxSeccompEnosys, X86_64AndX32AreCheckedOnlyWhenListed) {
  auto only64 = stub_for(profile("SCMP_ACT_ERRNO", {"SCMP_ARCH_X86_64"}, {"read", "pidfd_open"}));
  EXPECT_EQ(run(only64, AUDIT_ARCH_X86_64, 435), kEnosys);
  EXPECT_EQ(run(only64, AUDIT_ARCH_X86_64, kX32 | 1000), kReachedProgram);
  EXPECT_EQ(run(only64, AUDIT_ARCH_I386, 1000), kReachedProgram);

  auto only32 = stub_for(profile("SCMP_ACT_ERRNO", {"SCMP_ARCH_X32"}, {"read", "pidfd_open"}));
  EXPECT_EQ(run(only32, AUDIT_ARCH_X86_64, kX32 | 435), kEnosys);
  EXPECT_EQ(run(only32, AUDIT_ARCH_X86_64, kX32 | 434), kReachedProgram);
  EXPECT_EQ(run(only32, AUDIT_ARCH_X86_64, 1000), kReachedProgram);
}

// Different highest syscalls per architecture: socketcall exists on i386 (102) only, where it
// is not the highest; acct is 163 on x86_64 and 51 on i386.
TEST(LinuxSeccompEnosys, HighestIsPerArchitectureAndUnknownNamesCountForNothing) {
  auto stub = stub_for(profile("SCMP_ACT_KILL_PROCESS", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"},
                               {"read", "acct", "socketcall", "no_such_syscall_at_all"}));
  EXPECT_EQ(run(stub, AUDIT_ARCH_X86_64, 163), kReachedProgram);
  EXPECT_EQ(run(stub, AUDIT_ARCH_X86_64, 164), kEnosys);
  EXPECT_EQ(run(stub, AUDIT_ARCH_I386, 102), kReachedProgram);
  EXPECT_EQ(run(stub, AUDIT_ARCH_I386, 103), kEnosys);
}

// s390(x) multiplexes syscalls above 255 through number 0, which a kernel that does not know
// the real one leaves in place: that answers ENOSYS too.
TEST(LinuxSeccompEnosys, S390MultiplexNumberAnswersEnosys) {
  auto stub = stub_for(profile("SCMP_ACT_ERRNO", {"SCMP_ARCH_S390X"}, {"read", "pidfd_open"}));
  EXPECT_EQ(run(stub, AUDIT_ARCH_S390X, 0), kEnosys);
  EXPECT_EQ(run(stub, AUDIT_ARCH_S390X, 3), kReachedProgram);
  EXPECT_EQ(run(stub, AUDIT_ARCH_S390X, 435), kEnosys);
}

TEST(LinuxSeccompEnosys, NoStubWhereRuncHasNone) {
  const json archs = {"SCMP_ARCH_X86_64"};
  for (const char* permissive : {"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"}) {
    json p = profile(permissive, archs, {"read"});
    p["syscalls"][0]["action"] = "SCMP_ACT_ERRNO";
    EXPECT_TRUE(stub_for(p).empty()) << permissive;
  }
  json enosys = profile("SCMP_ACT_ERRNO", archs, {"read", "write"});
  enosys["defaultErrnoRet"] = ENOSYS;
  EXPECT_TRUE(stub_for(enosys).empty()) << "the default action answers ENOSYS already";
  EXPECT_TRUE(stub_for(profile("SCMP_ACT_ERRNO", nullptr, {"read", "write"})).empty())
      << "no architectures listed";
  // Only syscall 0 (read) named: nothing to compare against, as in runc.
  EXPECT_TRUE(stub_for(profile("SCMP_ACT_ERRNO", archs, {"read"})).empty());
  for (const char* strict : {"SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                             "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"})
    EXPECT_FALSE(stub_for(profile(strict, archs, {"read", "write"})).empty()) << strict;
}

// Every architecture this libseccomp knows at once: the jumps still resolve (conditional jumps
// stay within a section), and each one is checked.
TEST(LinuxSeccompEnosys, EveryArchitectureAtOnce) {
  json archs = seccomp_features()["archs"];
  auto stub = stub_for(profile("SCMP_ACT_ERRNO", archs, {"read", "write", "pidfd_open"}));
  ASSERT_FALSE(stub.empty());
  for (const auto& name : archs) {
    std::string lower = name.get<std::string>().substr(std::strlen("SCMP_ARCH_"));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    uint32_t token = seccomp_arch_resolve_name(lower.c_str());
    if (token == SCMP_ARCH_X32) continue;  // shares x86_64's AUDIT_ARCH
    int pidfd_open = seccomp_syscall_resolve_name_arch(token, "pidfd_open");
    if (pidfd_open < 0) continue;
    SCOPED_TRACE(name.get<std::string>());
    EXPECT_EQ(run(stub, token, static_cast<uint32_t>(pidfd_open) + 1), kEnosys);
    EXPECT_EQ(run(stub, token, static_cast<uint32_t>(pidfd_open)), kReachedProgram);
  }
}

// ---- loaded for real ------------------------------------------------------------------------

// Runs `fn` in a forked child with no_new_privs (so loading needs no capability); its text
// ("" = passed) comes back through a pipe.
std::string in_child(const std::function<std::string()>& fn) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return "pipe2 failed";
  pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(p[0]);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    std::string out;
    try {
      out = fn();
    } catch (const std::exception& e) {
      out = std::string("EXCEPTION: ") + e.what();
    }
    if (!out.empty()) {
      [[maybe_unused]] ssize_t n = ::write(p[1], out.data(), out.size());
    }
    _exit(0);
  }
  ::close(p[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) text += " [child did not exit normally: " + std::to_string(status) + "]";
  return text;
}

std::string errno_of(const char* what, long r, int want) {
  if (r == -1 && errno == want) return "";
  return fmt::format("{}: returned {} errno {}, wanted {}\n", what, r, errno, want);
}

#ifdef __x86_64__
TEST(LinuxSeccompEnosys, LoadedFilterAnswersEnosysAboveTheProfile) {
  json p = profile("SCMP_ACT_ERRNO", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
                   {"read", "write", "close", "exit", "exit_group", "brk", "mmap", "munmap",
                    "mprotect", "madvise", "futex", "pidfd_open"});
  std::string out = in_child([&] {
    if (load_seccomp(p).valid()) return std::string("a listener without SCMP_ACT_NOTIFY\n");
    std::string r;
    r += errno_of("clone3", syscall(SYS_clone3, nullptr, 0), ENOSYS);
    r += errno_of("close_range", syscall(SYS_close_range, ~0U, ~0U, 0), ENOSYS);
    r += errno_of("faccessat2", syscall(SYS_faccessat2, -1, "/", 0, 0), ENOSYS);
    r += errno_of("acct (old, unlisted)", syscall(SYS_acct, nullptr), EPERM);
    r += errno_of("x32 close_range", syscall(kX32 | SYS_close_range, ~0U, ~0U, 0), ENOSYS);
    r += errno_of("x32 acct", syscall(kX32 | SYS_acct, nullptr), EPERM);
    return r;
  });
  EXPECT_EQ(out, "");
}

// SCMP_ACT_NOTIFY behind the stub: the listener still comes back from seccomp(2).
TEST(LinuxSeccompEnosys, NotifyListenerWithTheStub) {
  if (seccomp_api_get() < 5) GTEST_SKIP() << "no SCMP_ACT_NOTIFY on this host";
  json p = profile("SCMP_ACT_ERRNO", {"SCMP_ARCH_X86_64"},
                   {"read", "write", "close", "exit", "exit_group", "brk", "mmap", "munmap",
                    "mprotect", "madvise", "futex", "fcntl", "pidfd_open"});
  p["listenerPath"] = "/nonexistent.sock";
  p["syscalls"].push_back({{"names", {"mkdirat"}}, {"action", "SCMP_ACT_NOTIFY"}});
  std::string out = in_child([&] {
    UniqueFd listener = load_seccomp(p);
    if (!listener) return std::string("no listener returned\n");
    int flags = ::fcntl(listener.get(), F_GETFD);
    if (flags < 0 || !(flags & FD_CLOEXEC)) return std::string("listener not close-on-exec\n");
    return errno_of("close_range", syscall(SYS_close_range, ~0U, ~0U, 0), ENOSYS);
  });
  EXPECT_EQ(out, "");
}
#endif

TEST(LinuxSeccompEnosys, ExportedProgramEndsInReturns) {
  // What seccomp_export_bpf writes is whole instructions, ending in a return.
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(read), 0), 0);
  std::vector<sock_filter> prog = export_seccomp_program(ctx);
  seccomp_release(ctx);
  ASSERT_FALSE(prog.empty());
  EXPECT_EQ(BPF_CLASS(prog.back().code), BPF_RET);
}

}  // namespace
}  // namespace vessel::linux
