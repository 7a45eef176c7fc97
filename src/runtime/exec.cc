// `exec`: a new process in a running container. The runtime forks an intermediate process
// that joins every namespace of the container's init; that one clones the final process with
// CLONE_PARENT (so it is the runtime's own child, and can be waited for) and exits. pid and
// time namespaces only apply to children, hence the second process. The final process waits
// for `go` (cgroup joined, rlimits set by the runtime), then takes the same protections as
// the init (capabilities, user, no_new_privs, seccomp) and execs. The setup channel is
// close-on-exec: EOF on it tells the runtime the program is running.
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>
#include <thread>

#include "cgroups/common.h"
#include "cgroups/manager.h"
#include "cgroups/placement.h"
#include "cgroups/sub_cgroups.h"
#include "linux/capabilities.h"
#include "linux/lsm.h"
#include "linux/namespaces.h"
#include "linux/process_attrs.h"
#include "linux/seccomp.h"
#include "linux/sync.h"
#include "linux/terminal.h"
#include "oci/state.h"
#include "runtime/container.h"
#include "runtime/executable.h"
#include "runtime/process.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::runtime {
namespace {

using oci::NamespaceType;

// After the detach keys: a process of its own keeps the pty master open (and reads what the
// process writes, so that it never blocks) until the process's side closes, so the detached
// process neither gets SIGHUP nor stalls.
void hold_terminal(int master) {
  pid_t holder = ::fork();
  if (holder != 0) return;  // the caller goes on (a failed fork: the process gets SIGHUP)
  // Out of the caller's session first, and deaf to SIGHUP: the caller's terminal may hang up
  // as soon as the caller exits, and its SIGHUP (pending while the inherited mask blocks it)
  // must not end the holder, which would hang up the process's terminal in turn.
  ::setsid();
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGHUP, &ignore, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (master != 3) {
    ::dup2(master, 3);
    master = 3;
  }
  int null = ::open("/dev/null", O_RDWR);
  for (int fd : {0, 1, 2}) ::dup2(null, fd);
  ::close_range(4, ~0U, 0);
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) & ~O_NONBLOCK);
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  ::_exit(0);
}

// Adds NAME=VALUE, replacing an earlier NAME (runc: the last setting wins).
void set_env(std::vector<std::string>& env, const std::string& kv) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) fail("--env \"{}\": expected NAME=VALUE", kv);
  std::string key = kv.substr(0, eq + 1);
  for (auto& e : env)
    if (e.compare(0, key.size(), key) == 0) {
      e = kv;
      return;
    }
  env.push_back(kv);
}

uint32_t parse_id(const std::string& s, const char* what) {
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v > UINT32_MAX || s[0] == '-')
    fail("--user \"{}\": {} must be a number", s, what);
  return static_cast<uint32_t>(v);
}

void add_unique(std::vector<std::string>& set, const std::string& cap) {
  if (std::find(set.begin(), set.end(), cap) == set.end()) set.push_back(cap);
}

// The process to run: --process FILE as is (runc ignores the other process flags then), or
// the container's own process with the command line and flags applied on top.
oci::Process exec_process(const ExecOptions& o, const oci::Spec& spec) {
  if (!o.process_json.empty()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(o.process_json));
    } catch (const nlohmann::json::exception& e) {
      fail("--process {}: {}", o.process_json, e.what());
    }
    oci::Process p = oci::parse_process(j, o.process_json);
    if (p.args.empty()) fail("--process {}: args: must not be empty", o.process_json);
    return p;
  }
  if (o.args.empty()) fail("exec: no command given (COMMAND after the container ID, or --process)");
  if (!spec.process) fail("the container's config has no process to take defaults from");
  oci::Process p = *spec.process;
  p.args = o.args;
  p.command_line.clear();
  p.terminal = o.tty;
  p.console_size.reset();
  for (const auto& kv : o.env) set_env(p.env, kv);
  if (!o.cwd.empty()) p.cwd = o.cwd;
  if (!o.user.empty()) {
    size_t colon = o.user.find(':');
    p.user.uid = parse_id(o.user.substr(0, colon), "the uid");
    if (colon != std::string::npos) p.user.gid = parse_id(o.user.substr(colon + 1), "the gid");
  }
  for (uint32_t gid : o.additional_gids) p.user.additional_gids.push_back(gid);
  if (!o.caps.empty()) {
    p.has_capabilities = true;
    // As runc: an added capability is usable right away, and survives execve() of a
    // non-root program through ambient (raised only when also inheritable).
    auto& c = p.capabilities;
    for (const auto& name : o.caps) {
      std::string cap = name;
      for (auto& ch : cap) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (cap.rfind("CAP_", 0) != 0) cap = "CAP_" + cap;
      linux::capability_from_name(cap);  // an unknown name fails here, naming it
      for (auto* set : {&c.bounding, &c.effective, &c.permitted, &c.ambient}) add_unique(*set, cap);
    }
  }
  if (o.no_new_privs) p.no_new_privileges = true;
  if (!o.apparmor.empty()) p.apparmor_profile = o.apparmor;
  if (!o.process_label.empty()) p.selinux_label = o.process_label;
  return p;
}

struct NsJoin {
  NamespaceType type;
  UniqueFd fd;
  std::string path;
};

// Every namespace of the init that differs from ours, user first (it grants the rights to
// join the others) and mount last (it changes our root).
std::vector<NsJoin> open_container_namespaces(pid_t pid) {
  std::vector<NsJoin> out;
  for (auto t :
       {NamespaceType::user, NamespaceType::ipc, NamespaceType::uts, NamespaceType::network,
        NamespaceType::pid, NamespaceType::time, NamespaceType::cgroup, NamespaceType::mount}) {
    std::string name = oci::namespace_proc_name(t);
    std::string path = fmt::format("/proc/{}/ns/{}", pid, name);
    std::string own = "/proc/self/ns/" + name;
    // One stat of each side: ours missing means a kernel without this namespace type.
    struct stat mine, theirs;
    bool have_mine = ::stat(own.c_str(), &mine) == 0;
    if (!have_mine && errno == ENOENT) continue;
    if (have_mine && ::stat(path.c_str(), &theirs) == 0 && mine.st_dev == theirs.st_dev &&
        mine.st_ino == theirs.st_ino)
      continue;
    out.push_back({t, linux::open_namespace(path, t), path});
  }
  return out;
}

bool paused(const cgroups::Manager& m) {
  auto* base = dynamic_cast<const cgroups::ManagerBase*>(&m.directories());
  if (!base) return false;
  for (const auto& d : base->dirs()) {
    if (d.has("freezer")) {
      auto v = cgroups::read_value(d.dir + "/freezer.state");
      if (v && *v != "THAWED") return true;
    } else if (d.unified() && base->layout() == cgroups::Layout::v2) {
      if (cgroups::read_value(d.dir + "/cgroup.freeze") == "1") return true;
    }
  }
  return false;
}

// Moves the exec'd process into the directories sub_cgroup_dirs() chose. A sub-cgroup that
// does not exist fails here, when the pid is written, as with runc (which does not create it).
void join_cgroup_dirs(const std::vector<std::string>& dirs, pid_t pid) {
  for (const std::string& dir : dirs) {
    std::string file = dir + "/cgroup.procs";
    std::string value = std::to_string(pid);
    if (int err = cgroups::write_value(file, value))
      cgroups::fail_write(fmt::format("add process {} to cgroup", pid), file, value, err,
                          err == ENOENT ? fmt::format(" (the sub-cgroup {} does not exist; exec "
                                                      "--cgroup joins an existing one)",
                                                      dir)
                                        : "");
  }
}

// The seccomp call site for exec'd processes, the filter of the container's config. An
// SCMP_ACT_NOTIFY listener goes to the runtime over the setup channel (which passes it on to
// the agent) and is closed here, as in the init.
void apply_exec_seccomp(const nlohmann::json& seccomp, const linux::SyncChannel& sync) {
  if (seccomp.is_null()) return;
  UniqueFd listener = linux::load_seccomp(seccomp);
  if (listener) sync.send_with_fd(linux::SyncMsg::seccomp_listener, listener.get());
}

struct ChildArgs {
  const oci::Spec* spec = nullptr;
  const oci::Process* proc = nullptr;
  std::vector<NsJoin>* ns = nullptr;
  bool joins_user = false;
  int preserve_fds = 0;
  int console_socket = -1;
  bool pty_to_parent = false;
  // The init's root when there is no mount namespace to join (see Runtime::exec), else -1.
  int container_root = -1;
  linux::SyncChannel* sync = nullptr;
  // The v1 cgroups the final process enters by itself (cgroups/placement.h), or null.
  cgroups::Placement* placement = nullptr;
};

// Whether the container's cgroup2 directory has a pids.max other than "max".
bool has_pids_limit(const cgroups::Placement& p) {
  if (!p.unified) return false;
  UniqueFd fd(::openat(p.unified.get(), "pids.max", O_RDONLY | O_CLOEXEC));
  if (!fd) return false;  // no pids controller there
  char buf[32];
  ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); });
  return !(n >= 3 && std::string_view(buf, static_cast<size_t>(n)).substr(0, 3) == "max");
}

void mark_fds(int preserve_fds) {
  // Only stdio and the preserved fds reach the program (CVE-2024-21626).
  unsigned first = 3 + static_cast<unsigned>(preserve_fds);
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    for (int fd = static_cast<int>(first); fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  for (int fd = 3; fd < static_cast<int>(first); ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
}

void reset_signals() {
  struct sigaction sa = {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// The final process, inside every namespace of the container.
[[noreturn]] void final_steps(const ChildArgs& a) {
  const oci::Process& proc = *a.proc;
  const oci::Spec& spec = *a.spec;
  a.sync->expect(linux::SyncMsg::go, "wait for the runtime");
  if (a.placement) cgroups::enter_v1_cgroups_by_self(*a.placement);
  if (a.joins_user && (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0))
    fail_errno("become root in the container's user namespace");
  if (a.container_root >= 0) {
    if (::fchdir(a.container_root) < 0 || ::chroot(".") < 0)
      fail_errno("enter the container's root (a chroot, without a mount namespace)");
    ::close(a.container_root);
  }
  // setns(mnt) leaves the old cwd behind, outside the container's root.
  if (::chdir("/") < 0) fail_errno("chdir / in the container");
  if (proc.terminal) {
    linux::Pty pty = linux::open_pty(proc.console_size);
    if (a.console_socket >= 0)
      linux::send_fd(a.console_socket, pty.master.get(), linux::pty_name(pty.master.get()));
    else if (a.pty_to_parent) {
      linux::clear_onlcr(pty.slave.get());  // the runtime proxies it (see linux/terminal.h)
      a.sync->send_with_fd(linux::SyncMsg::pty_master, pty.master.get());
    }
    pty.master.reset();
    if (a.console_socket >= 0) ::close(a.console_socket);
    linux::make_controlling_terminal(pty.slave.get());
  }
  if (spec.linux.personality) linux::apply_personality(*spec.linux.personality);
  // As root first, as the user only where root is refused (see runtime/init.cc).
  const bool cwd_entered = linux::enter_cwd_unless_denied(proc.cwd, "cwd");
  std::string exe = cwd_entered ? find_executable(proc, "") : std::string();
  std::vector<std::string> env = with_home(proc);

  // Same order as the container init (see linux/seccomp.h): without no_new_privs the filter
  // must be loaded while this process still has CAP_SYS_ADMIN.
  linux::set_exec_labels(proc.apparmor_profile, proc.selinux_label);
  if (!proc.no_new_privileges) apply_exec_seccomp(spec.linux.seccomp, *a.sync);
  if (proc.has_capabilities) linux::prepare_capabilities(proc.capabilities);
  bool setgroups_allowed = true;
  if (a.joins_user) {
    std::string sg;
    try {
      sg = read_file("/proc/self/setgroups");
    } catch (const Error&) {
    }
    setgroups_allowed = sg.rfind("deny", 0) != 0;
  }
  linux::give_stdio_to(proc.user.uid);
  linux::switch_user(proc.user, setgroups_allowed);
  if (!cwd_entered) linux::enter_cwd(proc.cwd, fmt::format("cwd (as uid {})", proc.user.uid));
  if (proc.has_capabilities) linux::apply_capabilities(proc.capabilities);
  if (!cwd_entered) exe = find_executable(proc, "");
  if (proc.no_new_privileges) {
    linux::set_no_new_privileges();
    apply_exec_seccomp(spec.linux.seccomp, *a.sync);
  }

  mark_fds(a.preserve_fds);
  std::vector<char*> argv, envp;
  for (const auto& s : proc.args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  for (const auto& s : env) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  // A detached process must outlive the runtime.
  if (::prctl(PR_SET_PDEATHSIG, 0) < 0) fail_errno("prctl(PR_SET_PDEATHSIG)");
  reset_signals();
  ::execve(exe.c_str(), argv.data(), envp.data());
  fail_execve(exe, errno);
}

// The intermediate process: joins the namespaces, clones the final process, exits.
[[noreturn]] void exec_child(const ChildArgs& a) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  try {
    // A namespace the container's user namespace does not own (a network namespace made on
    // the host and joined by path) can be joined only with the rights we have outside it: try
    // each one but user and mount first, and after the user namespace those refused here.
    std::vector<NsJoin*> later;
    bool user = false;
    for (auto& n : *a.ns) user |= n.type == NamespaceType::user;
    for (auto& n : *a.ns) {
      if (n.type == NamespaceType::user || n.type == NamespaceType::mount || !user) {
        later.push_back(&n);
      } else if (::setns(n.fd.get(), oci::namespace_clone_flag(n.type)) != 0) {
        if (errno != EPERM) linux::join_namespace(n.fd.get(), n.type, n.path);  // throws
        later.push_back(&n);
      }
    }
    for (auto* n : later) linux::join_namespace(n->fd.get(), n->type, n->path);
    for (auto& n : *a.ns) n.fd.reset();
    long r = ::syscall(SYS_clone, CLONE_PARENT, nullptr, nullptr, nullptr, nullptr);
    if (r < 0) fail_errno("clone the process in the container's namespaces");
    if (r > 0) {
      // clone() returns the PID in our own (the host's) pid namespace.
      a.sync->send(linux::SyncMsg::grandchild_pid, r);
      _exit(0);
    }
    // Our parent is the runtime now (CLONE_PARENT): die with it until the program runs.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    final_steps(a);
  } catch (const std::exception& e) {
    try {
      a.sync->send(linux::SyncMsg::error, 0, e.what());
    } catch (...) {
    }
  }
  _exit(1);
}

// Waits for the next message; false on EOF (the program was exec'd). An error message is
// thrown with its text.
bool next_message(const linux::SyncChannel& sync, linux::SyncMsg expected, const char* what) {
  char buf[16];
  ssize_t n = retry_eintr([&] { return ::recv(sync.fd(), buf, sizeof buf, MSG_PEEK); });
  if (n < 0) fail_errno("{}: receive on the setup channel", what);
  if (n == 0) return false;
  uint32_t type = 0;
  if (static_cast<size_t>(n) >= sizeof type) std::memcpy(&type, buf, sizeof type);
  if (type == static_cast<uint32_t>(linux::SyncMsg::error) ||
      expected != linux::SyncMsg::pty_master)
    sync.expect(expected, what);
  return true;
}

// Kills and reaps what exec started when it fails half-way.
class ProcessGuard {
 public:
  ~ProcessGuard() {
    for (pid_t p : pids_) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
  }
  void add(pid_t p) { pids_.push_back(p); }
  void forget(pid_t p) { std::erase(pids_, p); }
  void dismiss() { pids_.clear(); }

 private:
  std::vector<pid_t> pids_;
};

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace

int Runtime::exec(const ExecOptions& o) {
  if (o.preserve_fds < 0) fail("--preserve-fds must not be negative");
  ContainerRecord rec;
  {
    // Only long enough to read a consistent record: other commands (kill, delete, another
    // exec) must work while this process runs.
    ContainerDir dir = store_.open(o.id);
    rec = dir.load();
  }
  std::string status = container_status(rec);
  if (status == "stopped") fail("cannot exec in a stopped container \"{}\"", o.id);
  if (status == "paused" && !o.ignore_paused)
    fail("cannot exec in a paused container \"{}\" (use --ignore-paused to override)", o.id);
  // A created container's process waits for `start` in the container's namespaces and
  // cgroup, which is all an exec needs (runc's contract too).
  if (status != "running" && status != "paused" && status != "created")
    fail("cannot exec in container \"{}\": it is {}, not running", o.id, status);
  std::unique_ptr<cgroups::Manager> cgroup;
  if (!rec.cgroup.is_null()) cgroup = cgroups::load_manager(rec.cgroup);
  if (cgroup && !o.ignore_paused && paused(*cgroup))
    fail("cannot exec in a paused container \"{}\" (use --ignore-paused to override)", o.id);
  // --cgroup is checked before any process exists; only a missing directory fails later.
  std::map<std::string, std::string> sub_paths = cgroups::parse_sub_cgroup_args(o.sub_cgroups);
  std::vector<std::string> sub_dirs;
  if (!sub_paths.empty()) {
    if (!cgroup) fail("--cgroup: the container \"{}\" has no cgroup", o.id);
    sub_dirs = cgroups::sub_cgroup_dirs(*cgroup, sub_paths);
  }

  log::debug(fmt::format("exec {}: container is {}, init {}", o.id, status, rec.pid));
  oci::Spec spec = oci::parse_spec(rec.config.dump());
  oci::Process proc = exec_process(o, spec);
  linux::validate_lsm_labels("exec: process", proc.apparmor_profile, proc.selinux_label);
  if (proc.terminal && o.detach && o.console_socket.empty())
    fail("exec: a detached process with a terminal needs --console-socket");
  if (!proc.terminal && !o.console_socket.empty())
    fail("exec: --console-socket given but no terminal requested (--tty)");
  int preserve_fds = o.preserve_fds;
  if (const char* listen = ::getenv("LISTEN_FDS")) preserve_fds += std::atoi(listen);

  UniqueFd pidfd = open_pidfd(rec.pid, rec.pid_start_time);
  if (!pidfd) fail("cannot exec in a stopped container \"{}\"", o.id);
  std::vector<NsJoin> ns = open_container_namespaces(rec.pid);
  // A container without a mount namespace of its own shares ours, so joining one does not
  // change the root: the process enters the init's, a chroot into the rootfs.
  UniqueFd container_root;
  if (std::none_of(ns.begin(), ns.end(),
                   [](const NsJoin& n) { return n.type == NamespaceType::mount; }))
    container_root = open_or_throw(fmt::format("/proc/{}/root", rec.pid), O_PATH | O_DIRECTORY);
  // The files opened above name the init's namespaces only if it is still the same process.
  if (!process_alive(rec.pid, rec.pid_start_time))
    fail("cannot exec in a stopped container \"{}\"", o.id);
  bool joins_user = !ns.empty() && ns.front().type == NamespaceType::user;
  UniqueFd console;
  if (!o.console_socket.empty()) console = linux::connect_unix(o.console_socket);

  // In the foreground, signals are taken through a signalfd from before the process exists,
  // so none is lost; the process unblocks them for itself.
  sigset_t all, old;
  sigfillset(&all);
  sigemptyset(&old);
  if (!o.detach) ::sigprocmask(SIG_BLOCK, &all, &old);
  struct MaskRestore {
    bool active;
    sigset_t m;
    ~MaskRestore() {
      if (active) ::sigprocmask(SIG_SETMASK, &m, nullptr);
    }
  } restore{!o.detach, old};

  auto [parent_sync, child_sync] = linux::SyncChannel::make_pair();
  ChildArgs args;
  args.spec = &spec;
  args.proc = &proc;
  args.ns = &ns;
  args.joins_user = joins_user;
  args.preserve_fds = preserve_fds;
  args.console_socket = console.get();
  args.pty_to_parent = proc.terminal && !console;
  args.container_root = container_root.get();
  args.sync = &child_sync;

  // Not dumpable, inherited by both children: the final process runs this binary inside the
  // container's pid namespace until its execve (CVE-2019-5736, see runtime/init.cc).
  if (::prctl(PR_SET_DUMPABLE, 0) < 0) fail_errno("prctl(PR_SET_DUMPABLE, 0)");
  log::debug(fmt::format("exec {}: joining {} namespaces of init {}", o.id, ns.size(), rec.pid));
  // The intermediate process is born in the cgroup2 directory (the final one inherits it) and
  // the final one enters the v1 ones itself: no PID written to cgroup.procs, no RCU grace period
  // (cgroups/placement.h). Not under a pids limit, though: the final process's clone would
  // count against it, where a moved process never fails on it, so that keeps the old way.
  cgroups::Placement placement;
  bool self_placed = cgroup && o.sub_cgroups.empty() && cgroup->open_placement(placement) &&
                     !has_pids_limit(placement);
  if (self_placed)
    args.placement = &placement;
  else
    placement = {};  // no host cgroup fd goes into the container's namespaces for nothing
  ProcessGuard guard;
  pid_t mid = -1;
  if (self_placed && placement.unified) {
    mid = static_cast<pid_t>(cgroups::clone_into_cgroup(0, placement.unified.get()));
    if (mid < 0) {
      log::debug(fmt::format("exec: clone3 into the container's cgroup: {}; falling back",
                             std::strerror(errno)));
      self_placed = false;
      args.placement = nullptr;
      placement = {};
    }
  }
  if (mid < 0) mid = ::fork();
  if (mid < 0) fail_errno("fork");
  if (mid == 0) {
    parent_sync.close();
    exec_child(args);
  }
  placement = {};  // the children have their own copies of the fds
  guard.add(mid);
  child_sync.close();
  console.reset();
  container_root.reset();
  ns.clear();

  pid_t pid = static_cast<pid_t>(
      parent_sync.expect(linux::SyncMsg::grandchild_pid, "join the container's namespaces").value);
  guard.add(pid);
  ::waitpid(mid, nullptr, 0);
  guard.forget(mid);
  log::debug(fmt::format("exec {}: process {} in the namespaces, setting its cgroup and limits",
                         o.id, pid));

  if (cgroup && !self_placed) {
    if (o.sub_cgroups.empty())
      cgroup->add_process(pid);
    else
      join_cgroup_dirs(sub_dirs, pid);
  }
  // As for the init, from here: in a user namespace the process could not raise them itself.
  linux::apply_rlimits(pid, proc.rlimits);
  if (proc.oom_score_adj) linux::apply_oom_score_adj(pid, *proc.oom_score_adj);
  if (proc.io_priority) linux::apply_io_priority(pid, *proc.io_priority);
  if (proc.scheduler) linux::apply_scheduler(pid, *proc.scheduler);
  parent_sync.send(linux::SyncMsg::go);

  UniqueFd pty_master;
  if (args.pty_to_parent && next_message(parent_sync, linux::SyncMsg::pty_master, "exec"))
    pty_master = parent_sync.recv_fd(linux::SyncMsg::pty_master);
  if (linux::seccomp_uses_notify(spec.linux.seccomp)) {
    UniqueFd notify = parent_sync.recv_fd(linux::SyncMsg::seccomp_listener);
    oci::State st;
    st.oci_version = oci::kSpecVersion;
    st.id = rec.id;
    st.status = status;
    st.pid = rec.pid;
    st.bundle = rec.bundle;
    linux::send_seccomp_listener(spec.linux.seccomp, notify.get(), oci::state_to_json(st), pid);
  }
  if (next_message(parent_sync, linux::SyncMsg::ready, "exec"))
    fail("exec: unexpected message from the process");
  parent_sync.close();
  if (!o.pid_file.empty()) {
    std::string path = o.pid_file;
    if (path[0] != '/') {
      char cwd[PATH_MAX];
      if (!::getcwd(cwd, sizeof cwd)) fail_errno("getcwd");
      path = std::string(cwd) + "/" + path;
    }
    write_file_atomic(path, std::to_string(pid), 0644);
  }
  guard.dismiss();
  log::debug(fmt::format("exec {}: process {} runs {}", o.id, pid,
                         o.detach ? "detached" : "in the foreground"));
  if (o.detach) return 0;

  sigset_t forward;
  sigfillset(&forward);
  if (pty_master) sigdelset(&forward, SIGWINCH);  // the terminal proxy handles it
  int sfd = ::signalfd(-1, &forward, SFD_CLOEXEC);
  if (sfd < 0) fail_errno("signalfd");
  UniqueFd sigfd(sfd);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  UniqueFd detached(::eventfd(0, EFD_CLOEXEC));
  std::thread proxy;
  if (pty_master) {
    int master = pty_master.get();
    int stop_fd = stop.get();
    int detached_fd = detached.get();
    std::string keys = o.detach_keys;
    proxy = std::thread([master, stop_fd, detached_fd, keys] {
      try {
        if (linux::proxy_terminal(master, stop_fd, keys)) {
          uint64_t one = 1;
          [[maybe_unused]] ssize_t w = ::write(detached_fd, &one, sizeof one);
        }
      } catch (const std::exception& e) {
        log::warn(e.what());
      }
    });
  }
  int code = -1;
  while (code < 0) {
    pollfd pfds[2] = {{sigfd.get(), POLLIN, 0}, {detached.get(), POLLIN, 0}};
    if (::poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fail_errno("poll (exec)");
    }
    if (pfds[1].revents & POLLIN) {
      proxy.join();
      hold_terminal(pty_master.get());
      log::debug(fmt::format("exec {}: detached from process {}", o.id, pid));
      return 0;
    }
    struct signalfd_siginfo si;
    ssize_t n = retry_eintr([&] { return ::read(sigfd.get(), &si, sizeof si); });
    if (n != sizeof si) fail_errno("read signalfd");
    if (si.ssi_signo == SIGCHLD) {
      int st;
      pid_t p;
      while ((p = ::waitpid(-1, &st, WNOHANG)) > 0)
        if (p == pid) code = exit_code_of(st);
      continue;
    }
    ::kill(pid, static_cast<int>(si.ssi_signo));
  }
  if (proxy.joinable()) {
    // Let the proxy drain what the process wrote before it exited.
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(stop.get(), &one, sizeof one);
    proxy.join();
  }
  log::debug(fmt::format("exec {}: process {} exited, code {}", o.id, pid, code));
  return code;
}

}  // namespace vessel::runtime
