// Seccomp: validation errors with their JSON paths, and real filters loaded in forked
// children (each child is one process with one filter, checked from inside and by how it ends).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "linux/seccomp.h"
#include "linux/terminal.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

using json = nlohmann::json;

// ---- validation -------------------------------------------------------------------------

std::string error_of(const json& j) {
  try {
    validate_seccomp(j);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

json with_rule(const json& rule) {
  return {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {rule}}};
}

TEST(LinuxSeccomp, ValidationErrorsNameTheJsonPath) {
  struct Case {
    json config;
    std::string want;
  };
  json four_rules = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", json::array()}};
  for (int i = 0; i < 3; ++i)
    four_rules["syscalls"].push_back({{"names", {"getcwd"}}, {"action", "SCMP_ACT_ERRNO"}});
  four_rules["syscalls"].push_back({{"names", {"chmod"}}, {"action", "SCMP_ACT_FOO"}});

  const Case cases[] = {
      {json::array(), "config.json: linux.seccomp: expected an object"},
      {json::object(), "linux.seccomp.defaultAction: missing"},
      {{{"defaultAction", 3}}, "linux.seccomp.defaultAction: expected a string"},
      {{{"defaultAction", "SCMP_ACT_NOPE"}},
       "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_NOPE\""},
      {four_rules,
       "config.json: linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\""},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"defaultErrnoRet", 1}},
       "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW takes no errno"},
      {{{"defaultAction", "SCMP_ACT_ERRNO"}, {"defaultErrnoRet", -1}},
       "linux.seccomp.defaultErrnoRet: expected an unsigned integer"},
      {{{"defaultAction", "SCMP_ACT_ERRNO"}, {"defaultErrnoRet", 70000}},
       "linux.seccomp.defaultErrnoRet: out of range"},
      {{{"defaultAction", "SCMP_ACT_ERRNO"}, {"defaultErrnoRet", "EPERM"}},
       "linux.seccomp.defaultErrnoRet: expected an unsigned integer"},
      {{{"defaultAction", "SCMP_ACT_NOTIFY"}, {"listenerPath", "/run/agent.sock"}},
       "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
      {{{"defaultAction", "SCMP_ACT_ALLOW"},
        {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"}}},
       "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_Z80\""},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", "SCMP_ARCH_X86_64"}},
       "linux.seccomp.architectures: expected an array"},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"flags", {"SECCOMP_FILTER_FLAG_LOG", "FLAG_X"}}},
       "linux.seccomp.flags[1]: unknown flag \"FLAG_X\""},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerMetadata", "x"}},
       "linux.seccomp.listenerMetadata: must not be set without linux.seccomp.listenerPath"},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerPath", ""}},
       "linux.seccomp.listenerPath: must not be empty"},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerPath", "/" + std::string(120, 'a')}},
       "linux.seccomp.listenerPath: socket path is 121 bytes"},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {{"names", {"x"}}}}},
       "linux.seccomp.syscalls: expected an array"},
      {{{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {"getpid"}}},
       "linux.seccomp.syscalls[0]: expected an object"},
      {with_rule({{"action", "SCMP_ACT_ERRNO"}}), "linux.seccomp.syscalls[0]: missing \"names\""},
      {with_rule({{"names", json::array()}, {"action", "SCMP_ACT_ERRNO"}}),
       "linux.seccomp.syscalls[0].names: must list at least one syscall"},
      {with_rule({{"names", {"getpid", 7}}, {"action", "SCMP_ACT_ERRNO"}}),
       "linux.seccomp.syscalls[0].names[1]: expected a string"},
      {with_rule({{"names", {"getpid", ""}}, {"action", "SCMP_ACT_ERRNO"}}),
       "linux.seccomp.syscalls[0].names[1]: must not be empty"},
      {with_rule({{"names", {"getpid"}}}), "linux.seccomp.syscalls[0].action: missing"},
      {with_rule({{"names", {"getpid"}}, {"action", "SCMP_ACT_KILL"}, {"errnoRet", 1}}),
       "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL takes no errno"},
      {with_rule({{"names", {"getpid"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1.5}}),
       "linux.seccomp.syscalls[0].errnoRet: expected an unsigned integer"},
      {with_rule({{"names", {"getpid"}},
                  {"action", "SCMP_ACT_ERRNO"},
                  {"args", {{{"index", 6}, {"value", 0}, {"op", "SCMP_CMP_EQ"}}}}}),
       "linux.seccomp.syscalls[0].args[0].index: out of range (at most 5)"},
      {with_rule({{"names", {"getpid"}},
                  {"action", "SCMP_ACT_ERRNO"},
                  {"args",
                   {{{"index", 0}, {"value", 0}, {"op", "SCMP_CMP_EQ"}},
                    {{"index", 1}, {"value", 0}, {"op", "SCMP_CMP_ABOUT"}}}}}),
       "linux.seccomp.syscalls[0].args[1].op: unknown operator \"SCMP_CMP_ABOUT\""},
      {with_rule({{"names", {"getpid"}},
                  {"action", "SCMP_ACT_ERRNO"},
                  {"args", {{{"index", 0}, {"op", "SCMP_CMP_EQ"}}}}}),
       "linux.seccomp.syscalls[0].args[0]: missing \"value\""},
      {with_rule({{"names", {"getpid"}},
                  {"action", "SCMP_ACT_ERRNO"},
                  {"args", {{{"index", 0}, {"value", -5}, {"op", "SCMP_CMP_EQ"}}}}}),
       "linux.seccomp.syscalls[0].args[0].value: expected an unsigned integer"},
      {with_rule({{"names", {"getpid"}},
                  {"action", "SCMP_ACT_ERRNO"},
                  {"args", {{{"index", 0}, {"value", 1}}}}}),
       "linux.seccomp.syscalls[0].args[0]: missing \"op\""},
      {with_rule({{"names", {"mkdir"}}, {"action", "SCMP_ACT_NOTIFY"}}),
       "linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY"},
      {{{"defaultAction", "SCMP_ACT_ALLOW"},
        {"listenerPath", "/run/agent.sock"},
        {"syscalls", {{{"names", {"sendmsg"}}, {"action", "SCMP_ACT_NOTIFY"}}}}},
       "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY cannot be used for \"sendmsg\""},
  };
  for (const auto& c : cases) {
    std::string err = error_of(c.config);
    EXPECT_NE(err.find(c.want), std::string::npos)
        << "config: " << c.config.dump() << "\nwant: " << c.want << "\ngot:  " << err;
  }
}

TEST(LinuxSeccomp, FlagsTheInstalledLibseccompLacksAreErrorsNamingTheFlag) {
  json j = {{"defaultAction", "SCMP_ACT_ALLOW"},
            {"flags", {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}}};
  if (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR < 6) {
    std::string err = error_of(j);
    EXPECT_NE(err.find("linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not "
                       "supported"),
              std::string::npos)
        << err;
  } else {
    EXPECT_EQ(error_of(j), "");
  }
  // Architectures of the spec's list that this libseccomp cannot build filters for.
  std::string err =
      error_of({{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", {"SCMP_ARCH_LOONGARCH64"}}});
  if (seccomp_arch_resolve_name("loongarch64") == 0) {
    EXPECT_NE(err.find("architectures[0]: architecture \"SCMP_ARCH_LOONGARCH64\" is not supported "
                       "by libseccomp"),
              std::string::npos)
        << err;
  }
}

TEST(LinuxSeccomp, ValidConfigsParse) {
  EXPECT_NO_THROW(validate_seccomp(json()));
  EXPECT_FALSE(seccomp_uses_notify(json()));
  // The runtime-spec's example, as text (numbers parse unsigned).
  json example = json::parse(R"({
      "defaultAction": "SCMP_ACT_ALLOW",
      "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
      "syscalls": [
        {"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["no_such_syscall"], "action": "SCMP_ACT_KILL"},
        {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"},
                  {"index": 1, "value": 18446744073709551615, "op": "SCMP_CMP_GT"}]}
      ]})");
  SeccompFilter f = parse_seccomp(example);
  EXPECT_EQ(f.default_action, SCMP_ACT_ALLOW);
  EXPECT_EQ(f.architectures, (std::vector<uint32_t>{SCMP_ARCH_X86, SCMP_ARCH_X32}));
  EXPECT_TRUE(f.flag_log);
  EXPECT_FALSE(f.flag_spec_allow);
  ASSERT_EQ(f.rules.size(), 4u);
  EXPECT_EQ(f.rules[0].action, SCMP_ACT_ERRNO(EPERM));  // errnoRet defaults to EPERM
  EXPECT_EQ(f.rules[1].action, SCMP_ACT_KILL);
  EXPECT_EQ(f.rules[2].action, SCMP_ACT_TRACE(7));
  EXPECT_EQ(f.rules[3].action, SCMP_ACT_ERRNO(13));
  ASSERT_EQ(f.rules[3].args.size(), 2u);
  EXPECT_EQ(f.rules[3].args[0].op, SCMP_CMP_MASKED_EQ);
  EXPECT_EQ(f.rules[3].args[0].value, 2114060288u);
  EXPECT_EQ(f.rules[3].args[0].value_two, 2u);
  EXPECT_EQ(f.rules[3].args[1].value, UINT64_MAX);
  EXPECT_EQ(f.rules[3].path, "linux.seccomp.syscalls[3]");
  EXPECT_FALSE(f.uses_notify);

  json notify = {{"defaultAction", "SCMP_ACT_ALLOW"},
                 {"listenerPath", "/run/agent.sock"},
                 {"listenerMetadata", "hello"},
                 {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  EXPECT_TRUE(seccomp_uses_notify(notify));
  EXPECT_EQ(parse_seccomp(notify).listener_metadata, "hello");
}

TEST(LinuxSeccomp, ProcessStateForTheAgent) {
  json seccomp = {{"defaultAction", "SCMP_ACT_ALLOW"},
                  {"listenerPath", "/run/agent.sock"},
                  {"listenerMetadata", "MKNOD=/dev/null"}};
  json state = {
      {"ociVersion", "1.3.0"}, {"id", "c1"}, {"status", "creating"}, {"pid", 42}, {"bundle", "/b"}};
  json ps = seccomp_process_state(seccomp, state, 42);
  EXPECT_EQ(ps["ociVersion"], oci::kSpecVersion);
  EXPECT_EQ(ps["fds"], json({"seccompFd"}));
  EXPECT_EQ(ps["pid"], 42);
  EXPECT_EQ(ps["metadata"], "MKNOD=/dev/null");
  EXPECT_EQ(ps["state"], state);
  seccomp.erase("listenerMetadata");
  EXPECT_FALSE(seccomp_process_state(seccomp, state, 42).contains("metadata"));
}

TEST(LinuxSeccomp, Features) {
  json f = seccomp_features();
  EXPECT_EQ(f["enabled"], true);
  for (const char* a :
       {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"})
    EXPECT_NE(std::find(f["actions"].begin(), f["actions"].end(), a), f["actions"].end()) << a;
  EXPECT_EQ(f["operators"].size(), 7u);
  EXPECT_NE(std::find(f["archs"].begin(), f["archs"].end(), "SCMP_ARCH_X86"), f["archs"].end());
  EXPECT_NE(std::find(f["archs"].begin(), f["archs"].end(), "SCMP_ARCH_AARCH64"), f["archs"].end());
  // Every arch listed must be accepted by validation (the features MUST contract).
  for (const auto& a : f["archs"])
    EXPECT_EQ(error_of({{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", {a}}}), "") << a;
  for (const auto& flag : f["supportedFlags"]) {
    EXPECT_NE(std::find(f["knownFlags"].begin(), f["knownFlags"].end(), flag),
              f["knownFlags"].end());
    EXPECT_EQ(error_of({{"defaultAction", "SCMP_ACT_ALLOW"}, {"flags", {flag}}}), "") << flag;
  }
  for (const auto& flag : f["knownFlags"]) {
    std::string err = error_of({{"defaultAction", "SCMP_ACT_ALLOW"}, {"flags", {flag}}});
    EXPECT_EQ(err.find("unknown flag"), std::string::npos) << err;
  }
  EXPECT_NE(
      std::find(f["supportedFlags"].begin(), f["supportedFlags"].end(), "SECCOMP_FILTER_FLAG_LOG"),
      f["supportedFlags"].end());
}

// ---- real filters ---------------------------------------------------------------------------

struct Outcome {
  int status = -1;
  std::string text;  // what the child reported: empty when all its checks passed
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0 && text.empty(); }
  bool killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
};

std::ostream& operator<<(std::ostream& o, const Outcome& r) {
  o << "status " << r.status;
  if (WIFSIGNALED(r.status)) o << " (signal " << WTERMSIG(r.status) << ")";
  if (WIFEXITED(r.status)) o << " (exit " << WEXITSTATUS(r.status) << ")";
  return o << ": " << r.text;
}

// Runs `fn` in a forked child. Unprivileged, the child sets no_new_privs first so it may
// load filters at all (`nnp_if_unprivileged`). A child that hangs is killed after `timeout`.
Outcome in_child(const std::function<std::string()>& fn, bool nnp_if_unprivileged = true,
                 int timeout_ms = 10000, const std::function<void(pid_t)>& parent = {}) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) std::abort();
  pid_t pid = fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    ::close(p[0]);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // SIGSYS dumps core by default
    if (nnp_if_unprivileged && geteuid() != 0) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    std::string out;
    try {
      out = fn();
    } catch (const std::exception& e) {
      out = std::string("EXCEPTION: ") + e.what();
    }
    if (!out.empty()) {
      [[maybe_unused]] ssize_t n = ::write(p[1], out.data(), out.size());
    }
    _exit(out.empty() ? 0 : 1);
  }
  ::close(p[1]);
  if (parent) parent(pid);
  Outcome r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    struct pollfd pfd = {p[0], POLLIN, 0};
    if (left <= 0 || poll(&pfd, 1, static_cast<int>(left)) <= 0) {
      kill(pid, SIGKILL);
      r.text += "[timed out]";
      break;
    }
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    r.text.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  waitpid(pid, &r.status, 0);
  return r;
}

// "" when `r` is -1 with errno `want`, else what happened.
std::string expect_errno(const char* what, long r, int want) {
  if (r == -1 && errno == want) return "";
  return fmt::format("{}: returned {} errno {} ({}), wanted errno {} ({})\n", what, r, errno,
                     strerror(errno), want, strerror(want));
}

std::string expect_ok(const char* what, long r) {
  if (r >= 0) return "";
  return fmt::format("{}: failed: {}\n", what, strerror(errno));
}

json rule(std::vector<std::string> names, const char* action, json extra = json::object()) {
  json r = {{"names", names}, {"action", action}};
  r.update(extra);
  return r;
}

json allow_except(json rules) {
  return {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", std::move(rules)}};
}

TEST(LinuxSeccomp, ErrnoRuleFailsOnlyTheNamedSyscalls) {
  json s = allow_except({rule({"mkdir", "mkdirat"}, "SCMP_ACT_ERRNO", {{"errnoRet", EACCES}})});
  Outcome r = in_child([&] {
    // Before loading, mkdir("/") reports EEXIST: the change to EACCES is the filter's doing.
    std::string out = expect_errno("mkdir / before", syscall(SYS_mkdir, "/", 0700), EEXIST);
    if (load_seccomp(s).valid()) out += "a listener fd without SCMP_ACT_NOTIFY\n";
    out += expect_errno("mkdir", syscall(SYS_mkdir, "/", 0700), EACCES);
    out += expect_errno("mkdirat", syscall(SYS_mkdirat, AT_FDCWD, "/", 0700), EACCES);
    if (syscall(SYS_getpid) != getpid()) out += "getpid broken\n";
    out += expect_errno("rmdir / (not filtered)", syscall(SYS_rmdir, "/"), EBUSY);
    return out;
  });
  EXPECT_TRUE(r.ok()) << r;
}

// getppid ignores its arguments, but the filter sees them: a harmless probe for comparisons.
long probe(uint64_t a0, uint64_t a1 = 0) { return syscall(SYS_getppid, a0, a1); }

TEST(LinuxSeccomp, EveryOperatorComparesTheArgument) {
  struct Case {
    const char* op;
    uint64_t value, value_two;
    std::vector<uint64_t> match, no_match;
  };
  const uint64_t big = 0x100000000ULL;  // above 32 bits: the comparison is 64-bit
  const Case cases[] = {
      {"SCMP_CMP_EQ", big + 5, 0, {big + 5}, {5, big + 4}},
      {"SCMP_CMP_NE", 100, 0, {99, 101, big + 100}, {100}},
      {"SCMP_CMP_LT", 100, 0, {0, 99}, {100, 101, big}},
      {"SCMP_CMP_LE", 100, 0, {99, 100}, {101, big}},
      {"SCMP_CMP_GT", big, 0, {big + 1, UINT64_MAX}, {big, 5}},
      {"SCMP_CMP_GE", 100, 0, {100, 101, big}, {99, 0}},
      // value is the mask, valueTwo the value the masked argument must equal.
      {"SCMP_CMP_MASKED_EQ", 0xF0, 0x20, {0x20, 0x25, 0x12F}, {0x30, 0x05, 0}},
  };
  for (const auto& c : cases) {
    json s = allow_except(
        {rule({"getppid"}, "SCMP_ACT_ERRNO",
              {{"errnoRet", EACCES},
               {"args",
                {{{"index", 0}, {"value", c.value}, {"valueTwo", c.value_two}, {"op", c.op}}}}})});
    Outcome r = in_child([&] {
      load_seccomp(s);
      std::string out;
      for (uint64_t v : c.match)
        out += expect_errno(fmt::format("{} {:#x}", c.op, v).c_str(), probe(v), EACCES);
      for (uint64_t v : c.no_match)
        out += expect_ok(fmt::format("{} {:#x}", c.op, v).c_str(), probe(v));
      return out;
    });
    EXPECT_TRUE(r.ok()) << c.op << ": " << r;
  }
}

TEST(LinuxSeccomp, ConditionsOnDifferentArgumentsAllMustHold) {
  json s = allow_except({rule({"getppid"}, "SCMP_ACT_ERRNO",
                              {{"errnoRet", EACCES},
                               {"args",
                                {{{"index", 0}, {"value", 7}, {"op", "SCMP_CMP_EQ"}},
                                 {{"index", 1}, {"value", 9}, {"op", "SCMP_CMP_EQ"}}}}})});
  Outcome r = in_child([&] {
    load_seccomp(s);
    return expect_errno("7,9", probe(7, 9), EACCES) + expect_ok("7,8", probe(7, 8)) +
           expect_ok("6,9", probe(6, 9));
  });
  EXPECT_TRUE(r.ok()) << r;
}

TEST(LinuxSeccomp, ConditionsOnTheSameArgumentAreAlternatives) {
  // As runc: with an argument index repeated, every condition is a rule of its own (OR);
  // as one rule (AND) nothing could equal both 0x8 and 0x20000.
  json s = allow_except({rule({"personality"}, "SCMP_ACT_ERRNO",
                              {{"errnoRet", EACCES},
                               {"args",
                                {{{"index", 0}, {"value", 0x8}, {"op", "SCMP_CMP_EQ"}},
                                 {{"index", 0}, {"value", 0x20000}, {"op", "SCMP_CMP_EQ"}}}}})});
  Outcome r = in_child([&] {
    load_seccomp(s);
    return expect_errno("0x8", personality(0x8), EACCES) +
           expect_errno("0x20000", personality(0x20000), EACCES) +
           expect_ok("query", personality(0xffffffff));
  });
  EXPECT_TRUE(r.ok()) << r;
}

TEST(LinuxSeccomp, PersonalityAllowedOnlyForTheQuery) {
  json s = allow_except(
      {rule({"personality"}, "SCMP_ACT_ERRNO",
            {{"args", {{{"index", 0}, {"value", 0xffffffff}, {"op", "SCMP_CMP_NE"}}}}})});
  Outcome r = in_child([&] {
    load_seccomp(s);
    return expect_ok("query", personality(0xffffffff)) +
           expect_errno("PER_LINUX", personality(PER_LINUX), EPERM) +
           expect_errno("PER_BSD", personality(PER_BSD), EPERM);
  });
  EXPECT_TRUE(r.ok()) << r;
}

TEST(LinuxSeccomp, KillProcessEndsTheChildWithSigsys) {
  json s = allow_except({rule({"getppid"}, "SCMP_ACT_KILL_PROCESS")});
  Outcome r = in_child([&] {
    load_seccomp(s);
    probe(0);
    return std::string("still alive after getppid");
  });
  EXPECT_TRUE(r.killed_by(SIGSYS)) << r;

  // KILL (the thread) also ends a single-threaded process.
  s = allow_except({rule({"getppid"}, "SCMP_ACT_KILL")});
  r = in_child([&] {
    load_seccomp(s);
    probe(0);
    return std::string("still alive after getppid");
  });
  EXPECT_TRUE(r.killed_by(SIGSYS)) << r;
}

std::atomic<int> g_trapped_syscall{-1};
void on_sigsys(int, siginfo_t* si, void*) { g_trapped_syscall = si->si_syscall; }

TEST(LinuxSeccomp, TrapTraceLogAndRulesLikeTheDefault) {
  json s = {
      {"defaultAction", "SCMP_ACT_ERRNO"},
      {"defaultErrnoRet", EPERM},
      {"syscalls",
       {rule({"getppid"}, "SCMP_ACT_TRAP"),
        // No tracer is attached: the kernel answers ENOSYS.
        rule({"getpriority"}, "SCMP_ACT_TRACE", {{"errnoRet", 5}}), rule({"uname"}, "SCMP_ACT_LOG"),
        // Same as the default action: skipped (libseccomp would refuse it).
        rule({"acct"}, "SCMP_ACT_ERRNO"),
        // Unknown to libseccomp: skipped.
        rule({"no_such_syscall_at_all"}, "SCMP_ACT_ALLOW"),
        // What the child itself (and ASan's signal handling, in `make asan`) needs.
        rule(
            {"rt_sigaction", "rt_sigreturn", "rt_sigprocmask", "sigaltstack", "write", "exit_group",
             "exit", "brk", "mmap", "munmap", "mprotect", "madvise", "futex", "getpid", "gettid"},
            "SCMP_ACT_ALLOW")}}};
  Outcome r = in_child([&] {
    struct sigaction sa = {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, nullptr);
    load_seccomp(s);
    std::string out;
    probe(0);
    if (g_trapped_syscall != SYS_getppid)
      out +=
          fmt::format("SIGSYS for syscall {}, wanted {}\n", g_trapped_syscall.load(), SYS_getppid);
    out += expect_errno("getpriority (TRACE)", syscall(SYS_getpriority, 0, 0), ENOSYS);
    struct utsname u;
    out += expect_ok("uname (LOG)", syscall(SYS_uname, &u));
    out += expect_errno("acct (default)", syscall(SYS_acct, nullptr), EPERM);
    out += expect_errno("getpgrp (default)", syscall(SYS_getpgrp), EPERM);
    return out;
  });
  EXPECT_TRUE(r.ok()) << r;
}

TEST(LinuxSeccomp, FlagsAndArchitecturesLoad) {
  json s = allow_except({rule({"mkdir"}, "SCMP_ACT_ERRNO", {{"errnoRet", EROFS}})});
  json flags = json::array();
  json features = seccomp_features();
  for (const auto& f : features["supportedFlags"]) flags.push_back(f);
  s["flags"] = flags;
  s["architectures"] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                        "SCMP_ARCH_ARM"};
  Outcome r = in_child([&] {
    load_seccomp(s);
    return expect_errno("mkdir", syscall(SYS_mkdir, "/", 0700), EROFS);
  });
  EXPECT_TRUE(r.ok()) << r << " flags " << flags.dump();
}

TEST(LinuxSeccomp, WithoutNoNewPrivsLoadingNeedsCapSysAdmin) {
  json s = allow_except({rule({"mkdir"}, "SCMP_ACT_ERRNO")});
  // The order the init must follow: without no_new_privs, load before dropping capabilities.
  Outcome r = in_child(
      [&] {
        if (geteuid() == 0) {
          cap_t caps = cap_get_proc();
          cap_value_t admin = CAP_SYS_ADMIN;
          cap_set_flag(caps, CAP_EFFECTIVE, 1, &admin, CAP_CLEAR);
          if (cap_set_proc(caps) < 0) return std::string("cannot drop CAP_SYS_ADMIN");
          cap_free(caps);
        }
        try {
          load_seccomp(s);
        } catch (const Error& e) {
          std::string msg = e.what();
          if (msg.find("CAP_SYS_ADMIN") == std::string::npos ||
              msg.find("Permission denied") == std::string::npos)
            return "unexpected error: " + msg;
          // With no_new_privs set, no capability is needed.
          prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
          load_seccomp(s);
          return expect_errno("mkdir", syscall(SYS_mkdir, "/", 0700), EPERM);
        }
        return std::string("loaded without no_new_privs and without CAP_SYS_ADMIN");
      },
      false);
  EXPECT_TRUE(r.ok()) << r;
}

// ---- the default profile ---------------------------------------------------------------------

TEST(LinuxSeccomp, DefaultProfileValidatesAndNamesKnownSyscalls) {
  json p = default_seccomp_profile();
  EXPECT_NO_THROW(validate_seccomp(p));
  EXPECT_NO_THROW(validate_seccomp(json::parse(p.dump())));  // as read back from config.json
  EXPECT_EQ(p["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(p["defaultErrnoRet"], EPERM);
  if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
    EXPECT_EQ(p["architectures"], json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  }

  std::vector<uint32_t> archs;
  for (const auto& a : p["architectures"])
    archs.push_back(parse_seccomp({{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", {a}}})
                        .architectures.at(0));
  // May be newer than the installed libseccomp: kept so that a newer one allows them.
  const std::set<std::string> newer = {"fchmodat2"};
  std::set<std::string> allowed;
  for (const auto& r : p["syscalls"]) {
    for (const auto& n : r["names"]) {
      std::string name = n;
      if (r["action"] == "SCMP_ACT_ALLOW" && r.value("args", json::array()).empty()) {
        EXPECT_TRUE(allowed.insert(name).second) << name << " listed twice";
      }
      bool known = false;
      for (uint32_t a : archs)
        known = known || seccomp_syscall_resolve_name_arch(a, name.c_str()) != __NR_SCMP_ERROR;
      if (!newer.count(name)) {
        EXPECT_TRUE(known) << name << " is unknown to libseccomp";
      }
    }
  }
  for (const char* denied : {"kexec_load",
                             "kexec_file_load",
                             "init_module",
                             "finit_module",
                             "delete_module",
                             "create_module",
                             "keyctl",
                             "add_key",
                             "request_key",
                             "ptrace",
                             "mount",
                             "umount2",
                             "pivot_root",
                             "unshare",
                             "setns",
                             "bpf",
                             "perf_event_open",
                             "userfaultfd",
                             "open_by_handle_at",
                             "swapon",
                             "swapoff",
                             "reboot",
                             "settimeofday",
                             "clock_settime",
                             "adjtimex",
                             "acct",
                             "quotactl",
                             "lookup_dcookie",
                             "iopl",
                             "ioperm",
                             "syslog",
                             "uselib",
                             "clone",
                             "clone3",
                             "personality",
                             "fsopen",
                             "move_mount",
                             "io_uring_setup"})
    EXPECT_EQ(allowed.count(denied), 0u) << denied << " is allowed unconditionally";
}

void* thread_fn(void* arg) {
  *static_cast<int*>(arg) = 42;
  return nullptr;
}

TEST(LinuxSeccomp, DefaultProfileBlocksHostChangesAndKeepsOrdinaryProgramsWorking) {
  json p = default_seccomp_profile();
  Outcome r = in_child([&] {
    load_seccomp(p);
    std::string out;
    out += expect_errno(
        "keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), EPERM);
    out += expect_errno("add_key", syscall(SYS_add_key, "user", "k", "v", 1, 0), EPERM);
    out += expect_errno("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER), EPERM);
    out += expect_errno("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS), EPERM);
    out += expect_errno("setns", syscall(SYS_setns, 0, 0), EPERM);
    out += expect_errno("mount", mount("none", "/tmp", "tmpfs", 0, nullptr), EPERM);
    out += expect_errno("umount2", umount2("/tmp", MNT_DETACH), EPERM);
    out += expect_errno("ptrace", ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM);
    out += expect_errno("bpf", syscall(SYS_bpf, 0, nullptr, 0), EPERM);
    out +=
        expect_errno("perf_event_open", syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0), EPERM);
    out += expect_errno("reboot", syscall(SYS_reboot, 0, 0, 0, nullptr), EPERM);
    out += expect_errno("init_module", syscall(SYS_init_module, nullptr, 0, ""), EPERM);
    out += expect_errno("settimeofday", syscall(SYS_settimeofday, nullptr, nullptr), EPERM);
    out += expect_errno("personality(PER_BSD)", personality(PER_BSD), EPERM);
    out += expect_ok("personality(query)", personality(0xffffffff));
    out += expect_ok("personality(PER_LINUX)", personality(PER_LINUX));
    // clone with a namespace flag is refused; the child branch never runs if the filter works.
    long c = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
    if (c == 0) _exit(0);
    out += expect_errno("clone(CLONE_NEWUTS)", c, EPERM);
    // clone3 answers ENOSYS so the C library falls back to clone.
    out += expect_errno("clone3", syscall(SYS_clone3, nullptr, 0), ENOSYS);

    // Ordinary work: files, pipes, fork + wait, threads.
    UniqueFd f(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    char buf[64];
    if (!f || read(f.get(), buf, sizeof buf) <= 0) out += "open/read /proc/self/status failed\n";
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) < 0 || write(pp[1], "x", 1) != 1 || read(pp[0], buf, 1) != 1)
      out += "pipe/write/read failed\n";
    pid_t pid = fork();
    if (pid == 0) _exit(7);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
      out += fmt::format("fork + wait failed: {}\n", strerror(errno));
    pthread_t t;
    int value = 0;
    if (pthread_create(&t, nullptr, thread_fn, &value) != 0 || pthread_join(t, nullptr) != 0 ||
        value != 42)
      out += "pthread_create failed\n";
    return out;
  });
  EXPECT_TRUE(r.ok()) << r;
}

// ---- SCMP_ACT_NOTIFY ---------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vessel-seccomp-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { remove_tree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool readable(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

TEST(LinuxSeccomp, NotifySendsTheListenerAndTheAgentAnswers) {
  if (seccomp_api_get() < 5) GTEST_SKIP() << "no SCMP_ACT_NOTIFY on this host";
  TempDir dir;
  const std::string sock_path = dir.path() + "/agent.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, sock_path.c_str());
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);

  json s = {{"defaultAction", "SCMP_ACT_ALLOW"},
            {"listenerPath", sock_path},
            {"listenerMetadata", "agent-metadata"},
            {"syscalls", {rule({"getppid"}, "SCMP_ACT_NOTIFY")}}};
  json state = {{"ociVersion", oci::kSpecVersion},
                {"id", "c1"},
                {"status", "creating"},
                {"pid", 0},
                {"bundle", "/bundle"},
                {"annotations", {{"a", std::string(5000, 'x')}}}};

  std::string agent_error;
  Outcome r = in_child(
      [&] {
        UniqueFd fd = load_seccomp(s);
        if (!fd) return std::string("no listener fd");
        if (!(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC)) return std::string("listener not CLOEXEC");
        send_seccomp_listener(s, fd.get(), state, getpid());
        fd.reset();  // only the agent holds it now
        long got = probe(0);
        if (got != 4242) return fmt::format("getppid returned {}, not the agent's 4242", got);
        return std::string();
      },
      true, 10000,
      [&](pid_t child) {
        auto fail_agent = [&](const std::string& why) { agent_error += why + "\n"; };
        if (!readable(listener.get(), 5000)) return fail_agent("no connection");
        UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        std::string payload;
        UniqueFd notify;
        try {
          notify = recv_fd(conn.get(), &payload);
          payload += read_fd(conn.get());  // the rest of the state, until the runtime closes
        } catch (const Error& e) {
          return fail_agent(e.what());
        }
        if (fcntl(notify.get(), F_GETFD) < 0) return fail_agent("received fd is not valid");
        json ps = json::parse(payload, nullptr, false);
        if (ps.is_discarded()) return fail_agent("payload is not JSON: " + payload.substr(0, 200));
        if (ps["fds"] != json({"seccompFd"})) fail_agent("fds: " + ps["fds"].dump());
        if (ps["pid"] != child) fail_agent("pid: " + ps["pid"].dump());
        if (ps["metadata"] != "agent-metadata") fail_agent("metadata: " + ps["metadata"].dump());
        if (ps["state"] != state) fail_agent("state differs");
        if (ps["ociVersion"] != oci::kSpecVersion) fail_agent("ociVersion");

        struct seccomp_notif* req = nullptr;
        struct seccomp_notif_resp* resp = nullptr;
        if (seccomp_notify_alloc(&req, &resp) < 0) return fail_agent("seccomp_notify_alloc");
        if (!readable(notify.get(), 5000)) {
          fail_agent("no notification");
        } else if (seccomp_notify_receive(notify.get(), req) < 0) {
          fail_agent("seccomp_notify_receive failed");
        } else {
          if (req->data.nr != SYS_getppid) fail_agent(fmt::format("notified nr {}", req->data.nr));
          if (static_cast<pid_t>(req->pid) != child) fail_agent("notified pid");
          resp->id = req->id;
          resp->val = 4242;
          resp->error = 0;
          resp->flags = 0;
          if (seccomp_notify_respond(notify.get(), resp) < 0) fail_agent("respond failed");
        }
        seccomp_notify_free(req, resp);
      });
  EXPECT_EQ(agent_error, "");
  EXPECT_TRUE(r.ok()) << r;
}

TEST(LinuxSeccomp, NotifyWithoutAnAgentIsAnError) {
  TempDir dir;
  json s = {{"defaultAction", "SCMP_ACT_ALLOW"},
            {"listenerPath", dir.path() + "/nobody.sock"},
            {"syscalls", {rule({"getppid"}, "SCMP_ACT_NOTIFY")}}};
  try {
    send_seccomp_listener(s, 0, json::object(), 1);
    FAIL() << "sent to a socket that does not exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linux.seccomp.listenerPath: connect to " + dir.path()),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vessel::linux
