#include "linux/process_attrs.h"

#include <grp.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>
#include <utility>

#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

// Spelled out here instead of taken from <linux/ioprio.h> and <linux/sched/types.h>: older
// kernel headers lack them, and the latter clashes with glibc's struct sched_param.
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassShift = 13;

// The kernel's struct sched_attr, version 1 (with the utilization clamps), 56 bytes.
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
static_assert(sizeof(SchedAttr) == 56);

template <typename T, size_t N>
bool lookup(const std::pair<const char*, T> (&table)[N], const std::string& name, T* out) {
  for (const auto& [n, v] : table) {
    if (name == n) {
      *out = v;
      return true;
    }
  }
  return false;
}

constexpr std::pair<const char*, unsigned long> kPersonalityFlags[] = {
    {"UNAME26", UNAME26},
    {"ADDR_NO_RANDOMIZE", ADDR_NO_RANDOMIZE},
    {"FDPIC_FUNCPTRS", FDPIC_FUNCPTRS},
    {"MMAP_PAGE_ZERO", MMAP_PAGE_ZERO},
    {"ADDR_COMPAT_LAYOUT", ADDR_COMPAT_LAYOUT},
    {"READ_IMPLIES_EXEC", READ_IMPLIES_EXEC},
    {"ADDR_LIMIT_32BIT", ADDR_LIMIT_32BIT},
    {"SHORT_INODE", SHORT_INODE},
    {"WHOLE_SECONDS", WHOLE_SECONDS},
    {"STICKY_TIMEOUTS", STICKY_TIMEOUTS},
    {"ADDR_LIMIT_3GB", ADDR_LIMIT_3GB},
};

constexpr std::pair<const char*, int> kIoprioClasses[] = {
    {"IOPRIO_CLASS_RT", 1},
    {"IOPRIO_CLASS_BE", 2},
    {"IOPRIO_CLASS_IDLE", 3},
};

// SCHED_ISO is reserved by Linux but not implemented; the kernel answers EINVAL for it.
constexpr std::pair<const char*, uint32_t> kSchedPolicies[] = {
    {"SCHED_OTHER", 0}, {"SCHED_FIFO", 1}, {"SCHED_RR", 2},       {"SCHED_BATCH", 3},
    {"SCHED_ISO", 4},   {"SCHED_IDLE", 5}, {"SCHED_DEADLINE", 6},
};

constexpr std::pair<const char*, uint64_t> kSchedFlags[] = {
    {"SCHED_FLAG_RESET_ON_FORK", 0x01},  {"SCHED_FLAG_RECLAIM", 0x02},
    {"SCHED_FLAG_DL_OVERRUN", 0x04},     {"SCHED_FLAG_KEEP_POLICY", 0x08},
    {"SCHED_FLAG_KEEP_PARAMS", 0x10},    {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
    {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40},
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Names the target in messages only when it is another process.
std::string who(pid_t pid) { return pid == 0 ? "" : "pid " + std::to_string(pid) + " "; }

}  // namespace

void apply_rlimits(const std::vector<oci::Rlimit>& rlimits) {
  for (const auto& rl : rlimits) {
    struct rlimit lim = {static_cast<rlim_t>(rl.soft), static_cast<rlim_t>(rl.hard)};
    if (::setrlimit(rl.resource, &lim) < 0)
      fail_errno("setrlimit {} soft={} hard={}", rl.type, rl.soft, rl.hard);
  }
}

void apply_rlimits(pid_t pid, const std::vector<oci::Rlimit>& rlimits) {
  for (const auto& rl : rlimits) {
    struct rlimit lim = {static_cast<rlim_t>(rl.soft), static_cast<rlim_t>(rl.hard)};
    if (::prlimit(pid, static_cast<__rlimit_resource>(rl.resource), &lim, nullptr) < 0)
      fail_errno("prlimit pid {} {} soft={} hard={}", pid, rl.type, rl.soft, rl.hard);
  }
}

void apply_oom_score_adj(int adj) { write_file("/proc/self/oom_score_adj", std::to_string(adj)); }

void apply_oom_score_adj(pid_t pid, int adj) {
  write_file("/proc/" + std::to_string(pid) + "/oom_score_adj", std::to_string(adj));
}

void apply_personality(const oci::Personality& p) {
  unsigned long persona;
  if (p.domain == "LINUX")
    persona = PER_LINUX;
  else if (p.domain == "LINUX32")
    persona = PER_LINUX32;
  else
    fail("personality: unknown domain \"{}\" (want LINUX or LINUX32)", p.domain);
  // The runtime spec defines no flags yet; the kernel's own names are taken so that a config
  // can still ask for one, and anything else is an error rather than silently ignored.
  for (const auto& f : p.flags) {
    unsigned long bit;
    if (!lookup(kPersonalityFlags, f, &bit)) fail("personality: unknown flag \"{}\"", f);
    persona |= bit;
  }
  if (::personality(persona) < 0) {
    int err = errno;
    throw_errno(fmt::format("personality domain={} flags=[{}]", p.domain, join(p.flags)), err);
  }
}

void apply_io_priority(const oci::IoPriority& prio) { apply_io_priority(0, prio); }

void apply_io_priority(pid_t pid, const oci::IoPriority& prio) {
  int clazz;
  if (!lookup(kIoprioClasses, prio.clazz, &clazz))
    fail("ioPriority: unknown class \"{}\"", prio.clazz);
  if (prio.priority < 0 || prio.priority > 7)
    fail("ioPriority: priority {} is out of range 0..7", prio.priority);
  int value = (clazz << kIoprioClassShift) | prio.priority;
  // Per process: the container's processes are all descendants of this one and inherit it.
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, pid, value) < 0)
    fail_errno("ioprio_set {}class={} priority={}", who(pid), prio.clazz, prio.priority);
}

void apply_scheduler(const oci::Scheduler& s) { apply_scheduler(0, s); }

void apply_scheduler(pid_t pid, const oci::Scheduler& s) {
  SchedAttr attr = {};
  attr.size = sizeof attr;
  if (!lookup(kSchedPolicies, s.policy, &attr.sched_policy))
    fail("scheduler: unknown policy \"{}\"", s.policy);
  for (const auto& f : s.flags) {
    uint64_t bit;
    if (!lookup(kSchedFlags, f, &bit)) fail("scheduler: unknown flag \"{}\"", f);
    attr.sched_flags |= bit;
  }
  if (s.priority < 0) fail("scheduler: priority {} must not be negative", s.priority);
  attr.sched_nice = s.nice;
  attr.sched_priority = static_cast<uint32_t>(s.priority);
  attr.sched_runtime = s.runtime;
  attr.sched_deadline = s.deadline;
  attr.sched_period = s.period;
  if (::syscall(SYS_sched_setattr, pid, &attr, 0) < 0) {
    int err = errno;
    throw_errno(fmt::format("sched_setattr {}policy={} nice={} priority={} flags=[{}] runtime={} "
                            "deadline={} period={}",
                            who(pid), s.policy, s.nice, s.priority, join(s.flags), s.runtime,
                            s.deadline, s.period),
                err);
  }
}

void switch_user(const oci::User& user, bool setgroups_allowed) {
  // An empty list still has to be set: the supplementary groups inherited from the runtime
  // (root's) must not reach the container.
  if (setgroups_allowed) {
    std::vector<gid_t> gids(user.additional_gids.begin(), user.additional_gids.end());
    if (::setgroups(gids.size(), gids.data()) < 0) {
      int err = errno;
      std::string list;
      for (gid_t g : gids) list += (list.empty() ? "" : ",") + std::to_string(g);
      throw_errno(fmt::format("setgroups [{}]", list), err);
    }
  }
  if (::setresgid(user.gid, user.gid, user.gid) < 0) fail_errno("setresgid {}", user.gid);
  if (::setresuid(user.uid, user.uid, user.uid) < 0) fail_errno("setresuid {}", user.uid);
  if (user.umask) ::umask(static_cast<mode_t>(*user.umask & 07777));
}

void give_stdio_to(uid_t uid) {
  struct stat null_dev;
  const bool have_null = ::stat("/dev/null", &null_dev) == 0 && S_ISCHR(null_dev.st_mode);
  for (int fd = 0; fd <= 2; ++fd) {
    struct stat st;
    if (::fstat(fd, &st) < 0) {
      if (errno == EBADF) continue;  // a closed stdio fd has no owner to change
      fail_errno("stat stdio fd {}", fd);
    }
    if (st.st_uid == uid) continue;
    if (have_null && S_ISCHR(st.st_mode) && st.st_rdev == null_dev.st_rdev) continue;
    // -1 keeps the group as it is, also where it is not mapped in the user namespace.
    if (::fchown(fd, uid, static_cast<gid_t>(-1)) == 0) continue;
    if (errno == EINVAL || errno == EPERM || errno == EROFS) continue;
    fail_errno("give stdio fd {} to uid {} (fchown)", fd, uid);
  }
}

namespace {

void confirm_cwd_inside_root(const std::string& cwd, const std::string& what) {
  // The kernel prefixes a directory outside the root with "(unreachable)", which the C
  // library reports as ENOENT.
  char buf[PATH_MAX];
  const char* got = ::getcwd(buf, sizeof buf);
  if (got == nullptr || got[0] != '/') {
    // Leave the directory at once, so nothing else runs with it.
    [[maybe_unused]] int r = ::chdir("/");
    fail("{}: {} is outside the container's root filesystem", what, cwd);
  }
}

}  // namespace

void enter_cwd(const std::string& cwd, const std::string& what) {
  if (::chdir(cwd.c_str()) < 0) fail_errno("{}: chdir {}", what, cwd);
  confirm_cwd_inside_root(cwd, what);
}

bool enter_cwd_unless_denied(const std::string& cwd, const std::string& what) {
  if (::chdir(cwd.c_str()) < 0) {
    if (errno == EACCES || errno == EPERM) return false;
    fail_errno("{}: chdir {}", what, cwd);
  }
  confirm_cwd_inside_root(cwd, what);
  return true;
}

void set_no_new_privileges() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail_errno("prctl(PR_SET_NO_NEW_PRIVS)");
}

}  // namespace vessel::linux
