#include "runtime/init.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "linux/capabilities.h"
#include "linux/lsm.h"
#include "linux/mounts.h"
#include "linux/namespaces.h"
#include "linux/path.h"
#include "linux/process_attrs.h"
#include "linux/rootfs.h"
#include "linux/seccomp.h"
#include "linux/terminal.h"
#include "network/netns.h"
#include "runtime/executable.h"
#include "runtime/hooks.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::runtime {
namespace {

using oci::NamespaceType;

bool creates(const oci::Spec& s, NamespaceType t) {
  const oci::Namespace* ns = s.find_namespace(t);
  return ns && ns->path.empty();
}

void exit_on_signal(int sig) { _exit(128 + sig); }

// Until `start`, this process is PID 1 of its namespace, and PID 1 ignores signals it has no
// handler for: give the usual terminating signals a handler so `kill` works on a created
// container. execve() resets handled signals to their defaults.
void handle_signals_while_created() {
  struct sigaction sa = {};
  sa.sa_handler = exit_on_signal;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE})
    ::sigaction(sig, &sa, nullptr);
}

void reset_signals() {
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction sa = {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &sa, nullptr);
}

// Blocks until `start` connects and asks; returns the connection, on which an exec failure
// is reported (it is close-on-exec, so a successful exec reads as EOF on the other side).
UniqueFd wait_for_start(int listener) {
  for (;;) {
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      fail_errno("wait for start");
    }
    UniqueFd conn(c);
    char byte = 0;
    ssize_t n = retry_eintr([&] { return ::read(conn.get(), &byte, 1); });
    if (n == 1 && byte == 'S') return conn;
  }
}

void prepare_fds(int preserve_fds) {
  // Only stdio and the preserved fds may reach the container (CVE-2024-21626): everything
  // else the runtime holds is marked close-on-exec here, whatever its origin.
  unsigned first = 3 + static_cast<unsigned>(preserve_fds);
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = static_cast<int>(first); fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (int fd = 3; fd < static_cast<int>(first); ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
}

// Loads linux.seccomp and, for an SCMP_ACT_NOTIFY filter, hands the listener to the parent
// (which passes it on to the agent at listenerPath) and closes it here: the container must
// never hold it, or it could answer its own notifications. The hand-off uses sendmsg, which a
// filter may not notify on (validated in linux/seccomp.cc).
void load_seccomp_and_hand_off(const InitArgs& a, const nlohmann::json& seccomp) {
  UniqueFd listener = a.seccomp ? linux::load_seccomp(*a.seccomp) : linux::load_seccomp(seccomp);
  if (listener) a.sync->send_with_fd(linux::SyncMsg::seccomp_listener, listener.get());
}

// The mount point for the console: /dev/console as a file in the container's /dev itself.
// Never followed as a symlink, which would carry the pty's bind mount onto whatever it names,
// e.g. a procfs file (CVE-2025-52565), and never on procfs or sysfs.
UniqueFd console_mount_point() {
  UniqueFd root = open_or_throw("/", O_PATH | O_DIRECTORY);
  UniqueFd dev = linux::open_in_root(root.get(), "/dev", linux::Create::dir);
  struct statfs sfs;
  if (::fstatfs(dev.get(), &sfs) < 0) fail_errno("stat /dev");
  if (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC)
    fail("/dev resolves to a directory on procfs or sysfs");
  struct stat st;
  if (::fstatat(dev.get(), "console", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
      !S_ISCHR(st.st_mode) && ::unlinkat(dev.get(), "console", 0) < 0)
    fail_errno("/dev/console is neither a file nor a device and cannot be removed");
  int fd =
      ::openat(dev.get(), "console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST) fail_errno("create /dev/console");
  if (fd >= 0) ::close(fd);
  fd = ::openat(dev.get(), "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail_errno("open /dev/console");
  UniqueFd console(fd);
  if (::fstat(console.get(), &st) < 0) fail_errno("stat /dev/console");
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
    fail("/dev/console is neither a file nor a device");
  return console;
}

void setup_console(const InitArgs& a, const oci::Process& p) {
  linux::Pty pty = linux::open_pty(p.console_size);
  if (a.console_socket >= 0) {
    linux::send_fd(a.console_socket, pty.master.get(), "/dev/console");
  } else if (a.pty_to_parent) {
    linux::clear_onlcr(pty.slave.get());
    a.sync->send_with_fd(linux::SyncMsg::pty_master, pty.master.get());
  }
  pty.master.reset();
  // /dev/console is the container's terminal too, as on a real system.
  try {
    UniqueFd console = console_mount_point();
    ::mount(linux::fd_path(pty.slave.get()).c_str(), linux::fd_path(console.get()).c_str(), nullptr,
            MS_BIND, nullptr);
  } catch (const Error& e) {
    // A read-only /dev without a console node still gets a working terminal on stdio.
    log::debug(std::string("no /dev/console: ") + e.what());
  }
  linux::make_controlling_terminal(pty.slave.get());
}

void init_steps(InitArgs& a) {
  const oci::Spec& spec = *a.spec;
  const oci::Process& proc = *spec.process;
  // The state for createContainer/startContainer hooks comes with `go`: only the parent knows
  // this process's PID as the host sees it.
  a.state_json = a.sync->expect(linux::SyncMsg::go, "wait for the runtime").text;
  // Still in the host's namespaces (but the new ones from clone): the v1 cgroups, by itself.
  if (a.cgroup_placement) cgroups::enter_v1_cgroups_by_self(*a.cgroup_placement);

  for (auto& [type, fd] : a.join) linux::join_namespace(fd, type, spec.find_namespace(type)->path);
  if (a.unshare_user) {
    if (::unshare(CLONE_NEWUSER) < 0) fail_errno("create the user namespace");
    a.sync->send(linux::SyncMsg::userns_ready);
    a.sync->expect(linux::SyncMsg::maps_done, "wait for the id mappings");
  }
  // The mappings are written now (before `go` on the fast path, by maps_done on the slow one).
  if (a.dumpable_until_mapped && ::prctl(PR_SET_DUMPABLE, 0) < 0)
    fail_errno("prctl(PR_SET_DUMPABLE, 0)");
  const bool user_ns = spec.has_namespace(NamespaceType::user);
  if (user_ns) {
    // Become the namespace's root (created and mapped, or joined): until then this process has
    // an unmapped uid there, and could not even create a mount point. Before the fork into a
    // new pid namespace too: the child sends its credentials (SCM_CREDENTIALS), which the
    // kernel refuses with EINVAL while they are the overflow ids a joined namespace may not map.
    if (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0)
      fail_errno("become root in the container's user namespace");
  }
  if (a.unshare_flags && ::unshare(static_cast<int>(a.unshare_flags)) < 0)
    fail_errno("create namespaces (flags {:#x})", a.unshare_flags);
  if (a.fork_into_pid_ns) {
    if (::unshare(CLONE_NEWPID) < 0) fail_errno("create the pid namespace");
    pid_t child = ::fork();
    if (child < 0) fail_errno("fork into the new pid namespace");
    // The parent learns the new PID from the child itself. (No death signal for the child: its
    // parent exits now; if the runtime dies, the setup channel reads EOF and the child exits.)
    if (child > 0) _exit(0);
    a.sync->send_own_pid(linux::SyncMsg::grandchild_pid);
    a.state_json = a.sync->expect(linux::SyncMsg::go, "wait for the runtime").text;
  }
  if (creates(spec, NamespaceType::cgroup) && ::unshare(CLONE_NEWCGROUP) < 0)
    fail_errno("create the cgroup namespace");
  // A new network namespace starts with `lo` down. runc brings it up (the loopback network it
  // adds for every new network namespace), and programs expect 127.0.0.1 to answer.
  if (creates(spec, NamespaceType::network)) {
    if (int err = network::bring_loopback_up(); err != 0) {
      errno = err;
      fail_errno("bring up lo in the new network namespace");
    }
  }
  if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
    fail_errno("hostname: set \"{}\"", spec.hostname);
  if (!spec.domainname.empty() &&
      ::setdomainname(spec.domainname.data(), spec.domainname.size()) < 0)
    fail_errno("domainname: set \"{}\"", spec.domainname);
  if (!a.no_new_keyring) {
    // A session keyring of its own, so the container cannot read the host session's keys.
    ::syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, nullptr);
  }

  // Without a mount namespace of its own the container shares the runtime's (the spec's
  // "inherited"): its root is still set up, on a bind of the rootfs that delete detaches.
  const bool own_mount_ns = spec.has_namespace(NamespaceType::mount);
  const oci::Mount* root_overlay =
      !spec.mounts.empty() && linux::is_root_overlay(spec.mounts[0]) ? &spec.mounts[0] : nullptr;
  UniqueFd rootfd =
      linux::prepare_root(a.rootfs, spec.linux.rootfs_propagation, own_mount_ns, root_overlay);
  linux::MountContext ctx{a.bundle, user_ns, spec.has_namespace(NamespaceType::cgroup),
                          spec.linux.mount_label, spec.linux.rootfs_propagation};
  bool dev_bound = false;
  std::vector<linux::ReadonlyLater> readonly_later;
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    const oci::Mount& m = spec.mounts[i];
    if (i == 0 && root_overlay) continue;
    int tree = i < a.mount_trees.size() ? a.mount_trees[i] : -1;
    if (auto ro =
            linux::mount_entry(rootfd.get(), m, ctx, "mounts[" + std::to_string(i) + "]", tree))
      readonly_later.push_back(std::move(*ro));
    if (m.destination == "/dev" &&
        (m.type == "bind" || std::count(m.options.begin(), m.options.end(), "bind") ||
         std::count(m.options.begin(), m.options.end(), "rbind")))
      dev_bound = true;
  }
  linux::create_devices(rootfd.get(), spec.linux.devices, !dev_bound, user_ns);

  if (a.runtime_hooks) {
    a.sync->send(linux::SyncMsg::mounts_ready);
    a.sync->expect(linux::SyncMsg::hooks_done, "wait for createRuntime hooks");
  }
  // createContainer hooks run in the container's mount namespace with the rootfs as their
  // working directory, before pivot_root (as runc).
  if (!spec.hooks.create_container.empty())
    run_hooks(spec.hooks.create_container, "createContainer", a.state_json, a.rootfs);

  linux::enter_root(a.rootfs, a.no_pivot, own_mount_ns);
  rootfd.reset();
  linux::apply_sysctls(spec.linux.sysctl);
  if (proc.terminal) {
    setup_console(a, proc);
  } else {
    // As runc's init: a session of its own, terminal or not (CRIU refuses to dump a tree
    // whose session leader is outside the container's pid namespace). Already a leader: fine.
    (void)::setsid();
  }
  // Read-only tmpfs mounts and /dev, now that their contents (the console too) exist.
  linux::make_readonly_now(readonly_later);
  readonly_later.clear();
  linux::mask_paths(spec.linux.masked_paths);
  linux::make_readonly_paths(spec.linux.readonly_paths);
  if (spec.root.readonly) linux::make_root_readonly();

  // As root first; as process.user (below) only where root is refused, as runc does: a cwd
  // only root may enter still works for a non-root user.
  const bool cwd_entered = linux::enter_cwd_unless_denied(proc.cwd, "process.cwd");
  // rlimits, oomScoreAdj, ioPriority and the scheduler were set by the parent: in a user
  // namespace this process could not raise them, the kernel checks against the host's.
  if (spec.linux.personality) linux::apply_personality(*spec.linux.personality);
  // A relative program name needs the working directory; without it, looked up after the retry.
  std::string exe = cwd_entered ? find_executable(proc) : std::string();
  std::vector<std::string> env = with_home(proc);

  // The LSM labels take effect at execve; written while this process is still root.
  linux::set_exec_labels(proc.apparmor_profile, proc.selinux_label);
  // Seccomp order (linux/seccomp.h): without no_new_privs the filter needs CAP_SYS_ADMIN, so
  // it goes in before the capability drop; with it, as late as possible.
  if (!proc.no_new_privileges && !spec.linux.seccomp.is_null())
    load_seccomp_and_hand_off(a, spec.linux.seccomp);
  if (proc.has_capabilities) linux::prepare_capabilities(proc.capabilities);
  bool setgroups_allowed = true;
  if (user_ns) {
    std::string sg;
    try {
      sg = read_file("/proc/self/setgroups");
    } catch (const Error&) {
    }
    setgroups_allowed = sg.rfind("deny", 0) != 0;
  }
  linux::give_stdio_to(proc.user.uid);
  linux::switch_user(proc.user, setgroups_allowed);
  if (!cwd_entered)
    linux::enter_cwd(proc.cwd, fmt::format("process.cwd (as uid {})", proc.user.uid));
  if (proc.has_capabilities) linux::apply_capabilities(proc.capabilities);
  if (!cwd_entered) exe = find_executable(proc);
  if (proc.no_new_privileges) {
    linux::set_no_new_privileges();
    if (!spec.linux.seccomp.is_null()) load_seccomp_and_hand_off(a, spec.linux.seccomp);
  }

  prepare_fds(a.preserve_fds);
  if (::prctl(PR_SET_PDEATHSIG, 0) < 0) fail_errno("prctl(PR_SET_PDEATHSIG)");
  handle_signals_while_created();
  // This process may wait for `start` for as long as the container stays created: hand the
  // heap's free pages (the parent's parse and set-up garbage, copied on fork) back first.
  ::malloc_trim(0);
  a.sync->send(linux::SyncMsg::ready);
  a.sync->close();

  UniqueFd conn;
  if (a.start_conn >= 0) {
    conn.reset(a.start_conn);
    char byte = 0;
    ssize_t n = retry_eintr([&] { return ::read(conn.get(), &byte, 1); });
    if (n != 1 || byte != 'S') _exit(1);
  } else {
    conn = wait_for_start(a.start_listener);
    ::close(a.start_listener);
  }
  try {
    if (!spec.hooks.start_container.empty()) {
      nlohmann::json st = nlohmann::json::parse(a.state_json);
      st["status"] = "created";
      run_hooks(spec.hooks.start_container, "startContainer", st.dump());
    }
    std::vector<char*> argv, envp;
    for (const auto& s : proc.args) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    for (const auto& s : env) envp.push_back(const_cast<char*>(s.c_str()));
    envp.push_back(nullptr);
    reset_signals();
    ::execve(exe.c_str(), argv.data(), envp.data());
    fail_execve(exe, errno);
  } catch (const Error& e) {
    std::string msg = e.what();
    [[maybe_unused]] ssize_t n = ::write(conn.get(), msg.data(), msg.size());
    _exit(127);
  }
}

}  // namespace

void container_init(InitArgs& a) {
  // Not dumpable (inherited from the runtime, which set it before clone; repeated here): until
  // execve this process runs the runtime's binary, and /proc/1/exe and /proc/1/fd/* of a
  // non-dumpable process are out of reach of the container's other processes, which lack
  // CAP_SYS_PTRACE (CVE-2019-5736). execve makes the user's program dumpable again.
  if (!a.dumpable_until_mapped) ::prctl(PR_SET_DUMPABLE, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  for (int fd : a.close_in_child) ::close(fd);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  try {
    init_steps(a);
  } catch (const std::exception& e) {
    try {
      if (a.sync->fd() >= 0) a.sync->send(linux::SyncMsg::error, 0, e.what());
    } catch (...) {
    }
  }
  _exit(1);
}

}  // namespace vessel::runtime
