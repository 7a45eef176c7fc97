// Process attributes are applied for real in forked children, which report what the kernel
// then shows (/proc/self/*, getrlimit, sched_getattr, ioprio_get, ...) through a pipe.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

#include "linux/process_attrs.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

struct ChildResult {
  int status = -1;
  std::string out;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

ChildResult in_child(const std::function<std::string()>& fn) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    ::close(p[0]);
    std::string out;
    int code = 0;
    try {
      out = fn();
    } catch (const Error& e) {
      out = std::string("EXCEPTION: ") + e.what() + " errno=" + std::to_string(e.error_code());
      code = 1;
    } catch (const std::exception& e) {
      out = std::string("EXCEPTION: ") + e.what();
      code = 1;
    }
    try {
      write_all(p[1], out.data(), out.size());
    } catch (...) {
      code = 2;
    }
    _exit(code);
  }
  ::close(p[1]);
  ChildResult r;
  r.out = read_fd(p[0]);
  ::close(p[0]);
  waitpid(pid, &r.status, 0);
  return r;
}

struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

// Kernels with EEVDF report the fair-class time slice as sched_runtime, so it is left out
// for the non-deadline policies.
std::string without_runtime(const std::string& report) {
  auto b = report.find(" runtime=");
  auto e = report.find(' ', b + 1);
  return report.substr(0, b) + report.substr(e);
}

std::string sched_report() {
  SchedAttr a = {};
  if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) < 0) fail_errno("sched_getattr");
  errno = 0;
  int prio = getpriority(PRIO_PROCESS, 0);
  return "policy=" + std::to_string(a.sched_policy) + " flags=" + std::to_string(a.sched_flags) +
         " nice=" + std::to_string(a.sched_nice) + " prio=" + std::to_string(a.sched_priority) +
         " runtime=" + std::to_string(a.sched_runtime) +
         " deadline=" + std::to_string(a.sched_deadline) +
         " period=" + std::to_string(a.sched_period) + " getpriority=" + std::to_string(prio);
}

oci::Rlimit rlimit(const std::string& type, int resource, uint64_t soft, uint64_t hard) {
  oci::Rlimit r;
  r.type = type;
  r.resource = resource;
  r.soft = soft;
  r.hard = hard;
  return r;
}

// The limits line of /proc/self/limits, e.g. "Max open files  100  200  files".
std::string limits_line(const std::string& what) {
  std::string text = read_file("/proc/self/limits");
  auto pos = text.find(what);
  if (pos == std::string::npos) return "";
  return text.substr(pos, text.find('\n', pos) - pos);
}

std::string collapse(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ' || (!out.empty() && out.back() != ' ')) out += c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

TEST(LinuxProcessAttrs, Rlimits) {
  auto r = in_child([] {
    apply_rlimits({rlimit("RLIMIT_NOFILE", RLIMIT_NOFILE, 100, 200),
                   rlimit("RLIMIT_CORE", RLIMIT_CORE, 0, RLIM_INFINITY),
                   rlimit("RLIMIT_NPROC", RLIMIT_NPROC, 50, 60)});
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    return collapse(limits_line("Max open files")) + "\n" +
           collapse(limits_line("Max core file size")) + "\n" +
           collapse(limits_line("Max processes")) + "\n" + std::to_string(nofile.rlim_cur) + "/" +
           std::to_string(nofile.rlim_max);
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out,
            "Max open files 100 200 files\n"
            "Max core file size 0 unlimited bytes\n"
            "Max processes 50 60 processes\n"
            "100/200");
}

TEST(LinuxProcessAttrs, RlimitErrorNamesTheLimit) {
  auto r = in_child([] {
    apply_rlimits({rlimit("RLIMIT_NOFILE", RLIMIT_NOFILE, 300, 200)});
    return std::string("applied");
  });
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.out.find("setrlimit RLIMIT_NOFILE soft=300 hard=200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("errno=" + std::to_string(EINVAL)), std::string::npos) << r.out;
}

TEST(LinuxProcessAttrs, OomScoreAdj) {
  auto r = in_child([] {
    apply_oom_score_adj(567);
    return read_file("/proc/self/oom_score_adj");
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out, "567\n");
}

TEST(LinuxProcessAttrs, PersonalityLinux32) {
  auto r = in_child([] {
    oci::Personality p;
    p.domain = "LINUX32";
    apply_personality(p);
    struct utsname u;
    uname(&u);
    return std::to_string(personality(0xffffffff)) + " " + u.machine;
  });
  ASSERT_TRUE(r.ok()) << r.out;
#if defined(__x86_64__)
  EXPECT_EQ(r.out, std::to_string(PER_LINUX32) + " i686");
#else
  EXPECT_EQ(r.out.substr(0, r.out.find(' ')), std::to_string(PER_LINUX32));
#endif
}

TEST(LinuxProcessAttrs, PersonalityLinuxWithFlag) {
  auto r = in_child([] {
    personality(PER_LINUX32);
    oci::Personality p;
    p.domain = "LINUX";
    p.flags = {"ADDR_NO_RANDOMIZE"};
    apply_personality(p);
    return std::to_string(personality(0xffffffff));
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out,
            std::to_string(static_cast<int>(PER_LINUX) | static_cast<int>(ADDR_NO_RANDOMIZE)));
}

TEST(LinuxProcessAttrs, PersonalityRejectsUnknownValues) {
  oci::Personality p;
  p.domain = "LINUX";
  p.flags = {"NOT_A_FLAG"};
  EXPECT_THROW(apply_personality(p), Error);
  p.flags.clear();
  p.domain = "SVR4";
  EXPECT_THROW(apply_personality(p), Error);
}

TEST(LinuxProcessAttrs, IoPriority) {
  auto r = in_child([] {
    std::string out;
    for (auto [clazz, prio] : {std::pair<const char*, int>{"IOPRIO_CLASS_BE", 3},
                               {"IOPRIO_CLASS_RT", 6},
                               {"IOPRIO_CLASS_IDLE", 7}}) {
      oci::IoPriority p;
      p.clazz = clazz;
      p.priority = prio;
      apply_io_priority(p);
      long v = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
      if (v < 0) fail_errno("ioprio_get");
      out += std::to_string(v >> 13) + ":" + std::to_string(v & 0x1fff) + " ";
    }
    return out;
  });
  ASSERT_TRUE(r.ok()) << r.out;
  // The kernel keeps the level given with the idle class, though it does not use it.
  EXPECT_EQ(r.out.substr(0, 8), "2:3 1:6 ") << r.out;
  EXPECT_EQ(r.out.substr(8, 2), "3:") << r.out;
}

TEST(LinuxProcessAttrs, IoPriorityRejectsBadValues) {
  oci::IoPriority p;
  p.clazz = "IOPRIO_CLASS_NONE";
  EXPECT_THROW(apply_io_priority(p), Error);
  p.clazz = "IOPRIO_CLASS_BE";
  p.priority = 8;
  EXPECT_THROW(apply_io_priority(p), Error);
}

TEST(LinuxProcessAttrs, SchedulerBatchWithNice) {
  auto r = in_child([] {
    oci::Scheduler s;
    s.policy = "SCHED_BATCH";
    s.nice = 7;
    s.flags = {"SCHED_FLAG_RESET_ON_FORK"};
    apply_scheduler(s);
    return sched_report();
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(without_runtime(r.out),
            "policy=3 flags=1 nice=7 prio=0 deadline=0 period=0 getpriority=7");
}

TEST(LinuxProcessAttrs, SchedulerOtherNegativeNice) {
  auto r = in_child([] {
    oci::Scheduler s;
    s.policy = "SCHED_OTHER";
    s.nice = -5;
    apply_scheduler(s);
    return sched_report();
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(without_runtime(r.out),
            "policy=0 flags=0 nice=-5 prio=0 deadline=0 period=0 getpriority=-5");
}

TEST(LinuxProcessAttrs, SchedulerFifo) {
  auto r = in_child([] {
    oci::Scheduler s;
    s.policy = "SCHED_FIFO";
    s.priority = 10;
    apply_scheduler(s);
    return sched_report();
  });
  if (!r.ok() && r.out.find("errno=" + std::to_string(EPERM)) != std::string::npos)
    GTEST_SKIP() << "real-time scheduling is not allowed here: " << r.out;
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find(" runtime")), "policy=1 flags=0 nice=0 prio=10");
}

TEST(LinuxProcessAttrs, SchedulerDeadline) {
  auto r = in_child([] {
    oci::Scheduler s;
    s.policy = "SCHED_DEADLINE";
    s.runtime = 10'000'000;
    s.deadline = 30'000'000;
    s.period = 100'000'000;
    apply_scheduler(s);
    return sched_report();
  });
  if (!r.ok() && (r.out.find("errno=" + std::to_string(EPERM)) != std::string::npos ||
                  r.out.find("errno=" + std::to_string(EBUSY)) != std::string::npos))
    GTEST_SKIP() << "deadline scheduling is not allowed here: " << r.out;
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find(" getpriority")),
            "policy=6 flags=0 nice=0 prio=0 runtime=10000000 deadline=30000000 period=100000000");
}

TEST(LinuxProcessAttrs, SchedulerErrors) {
  auto r = in_child([] {
    oci::Scheduler s;
    s.policy = "SCHED_ISO";
    apply_scheduler(s);
    return std::string("applied");
  });
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.out.find("sched_setattr policy=SCHED_ISO"), std::string::npos) << r.out;

  oci::Scheduler s;
  s.policy = "SCHED_OTHER";
  s.flags = {"SCHED_FLAG_BOGUS"};
  try {
    apply_scheduler(s);
    FAIL() << "accepted an unknown flag";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SCHED_FLAG_BOGUS"), std::string::npos) << e.what();
  }
  s.flags.clear();
  s.policy = "SCHED_FAST";
  EXPECT_THROW(apply_scheduler(s), Error);
}

std::string ids_report() {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  getresuid(&ru, &eu, &su);
  getresgid(&rg, &eg, &sg);
  gid_t groups[64];
  int n = getgroups(64, groups);
  std::string g;
  for (int i = 0; i < n; ++i) g += (i ? "," : "") + std::to_string(groups[i]);
  mode_t m = umask(0);
  char mask[8];
  snprintf(mask, sizeof mask, "%04o", m);
  return "uid=" + std::to_string(ru) + "," + std::to_string(eu) + "," + std::to_string(su) +
         " gid=" + std::to_string(rg) + "," + std::to_string(eg) + "," + std::to_string(sg) +
         " groups=" + g + " umask=" + mask;
}

TEST(LinuxProcessAttrs, SwitchUser) {
  auto r = in_child([] {
    umask(022);
    oci::User u;
    u.uid = 1000;
    u.gid = 1001;
    u.additional_gids = {10, 20};
    u.umask = 027;
    switch_user(u, true);
    return ids_report();
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out, "uid=1000,1000,1000 gid=1001,1001,1001 groups=10,20 umask=0027");
}

TEST(LinuxProcessAttrs, SwitchUserClearsGroupsAndKeepsUmaskWhenUnset) {
  auto r = in_child([] {
    gid_t g[] = {4, 5};
    if (setgroups(2, g) < 0) fail_errno("setgroups");
    umask(0077);
    oci::User u;
    u.uid = 1000;
    u.gid = 1000;
    switch_user(u, true);
    return ids_report();
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out, "uid=1000,1000,1000 gid=1000,1000,1000 groups= umask=0077");
}

TEST(LinuxProcessAttrs, SwitchUserWithoutSetgroups) {
  auto r = in_child([] {
    gid_t g[] = {4, 5};
    if (setgroups(2, g) < 0) fail_errno("setgroups");
    umask(022);
    oci::User u;
    u.uid = 0;
    u.gid = 0;
    u.additional_gids = {10};
    switch_user(u, false);
    return ids_report();
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out, "uid=0,0,0 gid=0,0,0 groups=4,5 umask=0022");
}

TEST(LinuxProcessAttrs, SwitchUserErrorNamesTheCall) {
  auto r = in_child([] {
    oci::User u;
    u.uid = 1000;
    u.gid = 1000;
    switch_user(u, true);  // now unprivileged
    u.uid = 0;
    u.gid = 0;
    switch_user(u, false);
    return std::string("switched back");
  });
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.out.find("setresgid 0"), std::string::npos) << r.out;
}

TEST(LinuxProcessAttrs, NoNewPrivileges) {
  auto r = in_child([] {
    set_no_new_privileges();
    std::string s = read_file("/proc/self/status");
    auto pos = s.find("NoNewPrivs:");
    return s.substr(pos, s.find('\n', pos) - pos) + " " +
           std::to_string(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  });
  ASSERT_TRUE(r.ok()) << r.out;
  EXPECT_EQ(r.out, "NoNewPrivs:\t1 1");
}

TEST(LinuxProcessAttrs, AppliedToAnotherProcessByPid) {
  int gate[2];
  ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    ::close(gate[1]);
    char c;
    [[maybe_unused]] ssize_t n = read(gate[0], &c, 1);  // until the test closes its end
    _exit(0);
  }
  ::close(gate[0]);
  std::string limits, oom;
  long ioprio = -1;
  SchedAttr a = {};
  try {
    apply_rlimits(pid, {rlimit("RLIMIT_NOFILE", RLIMIT_NOFILE, 123, 456)});
    apply_oom_score_adj(pid, 321);
    oci::IoPriority io;
    io.clazz = "IOPRIO_CLASS_BE";
    io.priority = 5;
    apply_io_priority(pid, io);
    oci::Scheduler s;
    s.policy = "SCHED_BATCH";
    s.nice = 3;
    apply_scheduler(pid, s);
    limits = read_file("/proc/" + std::to_string(pid) + "/limits");
    oom = read_file("/proc/" + std::to_string(pid) + "/oom_score_adj");
    ioprio = syscall(SYS_ioprio_get, 1, pid);
    syscall(SYS_sched_getattr, pid, &a, sizeof a, 0);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  ::close(gate[1]);
  waitpid(pid, nullptr, 0);
  auto pos = limits.find("Max open files");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_EQ(collapse(limits.substr(pos, limits.find('\n', pos) - pos)),
            "Max open files 123 456 files");
  EXPECT_EQ(oom, "321\n");
  EXPECT_EQ(ioprio, (2 << 13) | 5);
  EXPECT_EQ(a.sched_policy, 3u);
  EXPECT_EQ(a.sched_nice, 3);
}

TEST(LinuxProcessAttrs, ErrorsForAnotherProcessNameIt) {
  oci::Scheduler s;
  s.policy = "SCHED_OTHER";
  try {
    apply_scheduler(999999999, s);
    FAIL() << "no such process, yet it worked";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sched_setattr pid 999999999"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(apply_rlimits(999999999, {rlimit("RLIMIT_NOFILE", RLIMIT_NOFILE, 1, 2)}), Error);
}

}  // namespace
}  // namespace vessel::linux
