// The create path of the runtime: Runtime::create_container (docs/architecture.md, "The
// container start path", parent steps 1-10) and the checks, the clone and the undo guard it
// uses; the rest of the lifecycle is in container.cc.
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include "cgroups/manager.h"
#include "cgroups/placement.h"
#include "linux/lsm.h"
#include "linux/mount_table.h"
#include "linux/mounts.h"
#include "linux/namespaces.h"
#include "linux/path.h"
#include "linux/process_attrs.h"
#include "linux/rootfs.h"
#include "linux/seccomp.h"
#include "linux/sync.h"
#include "linux/terminal.h"
#include "runtime/container.h"
#include "runtime/container_cgroup.h"
#include "runtime/container_internal.h"
#include "runtime/hooks.h"
#include "runtime/init.h"
#include "runtime/process.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::runtime {
namespace {

using oci::NamespaceType;

std::string now_rfc3339() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  // Not strftime: it calls tzset(), which reads /etc/localtime on every create for a UTC time.
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
  return buf;
}

std::string absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) fail_errno("resolve {}", path);
  return buf;
}

// Checks made before anything is created, so bad input leaves nothing behind.
void validate_for_create(const oci::Spec& spec, const std::string& rootfs) {
  if (!spec.process) fail("config.json: process: missing (nothing to run in the container)");
  if (!spec.has_linux) fail("config.json: linux: missing (this runtime runs Linux containers)");
  // Without a mount namespace the container shares the runtime's, and masking would cover
  // the host's files (runc refuses this too).
  if (!spec.has_namespace(NamespaceType::mount)) {
    if (!spec.linux.masked_paths.empty())
      fail("config.json: linux.maskedPaths: needs a mount namespace of the container's own");
    if (!spec.linux.readonly_paths.empty())
      fail("config.json: linux.readonlyPaths: needs a mount namespace of the container's own");
  }
  struct stat st;
  if (::stat(rootfs.c_str(), &st) < 0)
    fail_errno("config.json: root.path: {} (the container's root filesystem)", rootfs);
  if (!S_ISDIR(st.st_mode)) fail("config.json: root.path: {} is not a directory", rootfs);
  linux::validate_sysctls(spec);
  if (!spec.linux.seccomp.is_null()) linux::validate_seccomp(spec.linux.seccomp);
  linux::validate_lsm_labels("config.json: process", spec.process->apparmor_profile,
                             spec.process->selinux_label);
  linux::validate_mount_label(spec.linux.mount_label);
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    const std::string& d = spec.mounts[i].destination;
    if (d.find("/../") != std::string::npos ||
        (d.size() >= 3 && d.compare(d.size() - 3, 3, "/..") == 0))
      fail("config.json: mounts[{}].destination: \"{}\" contains \"..\"", i, d);
  }
}

UniqueFd make_start_listener(const ContainerDir& dir) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket for the start handshake");
  UniqueFd sock(fd);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::string path = linux::fd_path(dir.dir_fd()) + "/start.sock";
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    fail_errno("bind {}", dir.file("start.sock"));
  if (::listen(sock.get(), 4) < 0) fail_errno("listen on {}", dir.file("start.sock"));
  return sock;
}

void write_pid_file(const std::string& path, pid_t pid) {
  if (path.empty()) return;
  std::string abs = path[0] == '/' ? path : absolute(".") + "/" + path;
  write_file_atomic(abs, std::to_string(pid), 0644);
}

// For a container with a user namespace, the detached tree of each mount the runtime prepares
// on the host (UniqueFd() for the others): the idmapped mounts, with the container's mappings
// or the user namespace it joins for those without their own, and the bind mounts, whose
// sources the container's root may not be able to reach.
std::vector<UniqueFd> prepare_mount_trees(
    const oci::Spec& spec, const std::string& bundle,
    const std::vector<std::pair<NamespaceType, UniqueFd>>& joins) {
  int joined_userns = -1;
  for (const auto& [type, fd] : joins)
    if (type == NamespaceType::user) joined_userns = fd.get();
  std::vector<UniqueFd> trees(spec.mounts.size());
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    trees[i] = linux::prepare_mount_tree(spec.mounts[i], bundle, spec.linux.uid_mappings,
                                         spec.linux.gid_mappings,
                                         "mounts[" + std::to_string(i) + "]", joined_userns);
  }
  return trees;
}

// With a placement whose cgroup2 directory is open: clone3 into it. If the kernel refuses
// (too old, or the cgroup cannot take the process now), the placement is emptied and a plain
// clone follows, so that the parent's add_process reports the reason as it always did.
pid_t clone_child(unsigned long flags, cgroups::Placement* placement) {
  if (placement && placement->unified) {
    long r = cgroups::clone_into_cgroup(flags, placement->unified.get());
    if (r >= 0) return static_cast<pid_t>(r);
    log::debug(fmt::format("clone3 into the container's cgroup: {}; falling back to clone",
                           std::strerror(errno)));
    *placement = {};
  }
  long r = ::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (r < 0) fail_errno("clone the container process (flags {:#x})", flags);
  return static_cast<pid_t>(r);
}

}  // namespace

namespace {

// Undoes a half-made container: the process, its cgroup and its state directory. Mounts
// live in the container's mount namespace and go with its process.
class CreateGuard {
 public:
  explicit CreateGuard(ContainerDir& dir) : dir_(dir) {}
  ~CreateGuard() {
    if (done_) return;
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!host_rootfs_.empty()) {
      uint64_t now = linux::mount_id_of(host_rootfs_);
      try {
        if (now != mount_id_before_) linux::detach_mount_if_same(host_rootfs_, now);
      } catch (const std::exception& e) {
        log::warn(std::string("clean up the rootfs mounts: ") + e.what());
      }
    }
    if (cgroup_) {
      try {
        cgroup_->destroy();
      } catch (const std::exception& e) {
        log::warn(std::string("clean up the cgroup: ") + e.what());
      }
    }
    try {
      dir_.remove();
    } catch (const std::exception& e) {
      log::warn(std::string("clean up the state directory: ") + e.what());
    }
  }
  void set_pid(pid_t pid) { pid_ = pid; }
  // Without a mount namespace: the rootfs, and the id of the mount it was on before the init
  // bound it onto itself in the host's mount table.
  void set_host_rootfs(const std::string& rootfs, uint64_t mount_id_before) {
    host_rootfs_ = rootfs;
    mount_id_before_ = mount_id_before;
  }
  void set_cgroup(cgroups::Manager* m) { cgroup_ = m; }
  void dismiss() { done_ = true; }

 private:
  ContainerDir& dir_;
  pid_t pid_ = -1;
  cgroups::Manager* cgroup_ = nullptr;
  std::string host_rootfs_;
  uint64_t mount_id_before_ = 0;
  bool done_ = false;
};

}  // namespace

CreatedContainer Runtime::create_container(const CreateOptions& o, bool foreground_terminal,
                                           bool held, bool record_later) {
  std::string bundle = absolute(o.bundle);
  log::debug(fmt::format("create {}: loading {}/config.json", o.id, bundle));
  oci::Spec spec = oci::load_spec(bundle);
  std::string rootfs = spec.root.path[0] == '/' ? spec.root.path : bundle + "/" + spec.root.path;
  validate_for_create(spec, rootfs);
  rootfs = absolute(rootfs);
  if (spec.process->terminal && o.console_socket.empty() && !foreground_terminal)
    fail("process.terminal is true: a detached container needs --console-socket");
  if (!spec.process->terminal && !o.console_socket.empty())
    fail("--console-socket given but process.terminal is false");
  if (o.preserve_fds < 0) fail("--preserve-fds must not be negative");
  // Socket activation (systemd's LISTEN_FDS) passes its fds on too, as runc does.
  int preserve_fds = o.preserve_fds;
  if (const char* listen = ::getenv("LISTEN_FDS")) preserve_fds += std::atoi(listen);

  // Everything that can fail on bad input is opened before the state directory exists.
  std::vector<std::pair<NamespaceType, UniqueFd>> joins;
  for (auto t :
       {NamespaceType::user, NamespaceType::ipc, NamespaceType::uts, NamespaceType::network,
        NamespaceType::cgroup, NamespaceType::mount, NamespaceType::pid, NamespaceType::time}) {
    const oci::Namespace* ns = spec.find_namespace(t);
    if (ns && !ns->path.empty()) joins.emplace_back(t, linux::open_namespace(ns->path, t));
  }
  UniqueFd console;
  if (!o.console_socket.empty()) console = linux::connect_unix(o.console_socket);
  std::unique_ptr<cgroups::Manager> cgroup_to_make =
      cgroups::make_manager(spec.linux.cgroups_path, o.id);
  // A taken ID is reported as such by store_.create(), not as a busy cgroup.
  validate_container_id(o.id);
  if (!path_exists(store_.root() + "/" + o.id)) check_existing_cgroup(*cgroup_to_make);

  log::debug(fmt::format("create {}: config valid, rootfs {}", o.id, rootfs));
  CreatedContainer out{store_.create(o.id), {}, {}, {}, true, spec.hooks.poststart};
  ContainerRecord& rec = out.rec;
  rec.id = o.id;
  rec.bundle = bundle;
  rec.rootfs = rootfs;
  rec.created = now_rfc3339();
  rec.config = spec.raw;
  // The cgroup as it will be, recorded before any of it exists: a runtime killed from here on
  // leaves a record from which `delete --force` finds everything it made.
  rec.cgroup = cgroup_to_make->planned_json();
  // Declared before the guard, so it outlives the guard's clean-up.
  std::unique_ptr<cgroups::Manager> cgroup;
  CreateGuard guard(out.dir);
  out.dir.save(rec);

  log::debug(fmt::format("create {}: state directory {}", o.id, out.dir.path()));
  cgroup = create_container_cgroup(std::move(cgroup_to_make), spec, o);
  nlohmann::json made = cgroup ? cgroup->to_json() : nlohmann::json();
  if (made != rec.cgroup) {
    rec.cgroup = std::move(made);
    out.dir.save(rec);
  }
  if (cgroup) {
    guard.set_cgroup(cgroup.get());
    log::debug(fmt::format("create {}: cgroup {} created", o.id, cgroup->path()));
    // Rootless, a device filter could not be attached (v2 needs CAP_SYS_ADMIN on the host):
    // there the device rules are what the spec asks for, without the default list.
    bool has_device_rules =
        spec.linux.resources.is_object() && spec.linux.resources.contains("devices");
    if (!o.rootless || has_device_rules)
      cgroup->apply(with_default_device_rules(spec.linux.resources, spec));
    else if (spec.linux.resources.is_object())
      cgroup->apply(spec.linux.resources);
    log::debug(fmt::format("create {}: linux.resources applied", o.id));
  }
  UniqueFd listener, start_conn_child;
  if (held) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
      fail_errno("socketpair for the start handshake");
    out.start_conn.reset(pair[0]);
    start_conn_child.reset(pair[1]);
  } else {
    listener = make_start_listener(out.dir);
  }

  unsigned long flags = 0;
  for (const auto& ns : spec.linux.namespaces)
    if (ns.path.empty() && ns.type != NamespaceType::cgroup && ns.type != NamespaceType::time)
      flags |= static_cast<unsigned long>(oci::namespace_clone_flag(ns.type));
  InitArgs args;
  // A user namespace owns the namespaces made with it, and joining a namespace needs rights in
  // its owner: so with a user namespace and joined ones, join first, then create (slow path).
  const oci::Namespace* user_ns = spec.find_namespace(NamespaceType::user);
  bool joins_in_child = std::any_of(joins.begin(), joins.end(), [](const auto& j) {
    return j.first != NamespaceType::pid && j.first != NamespaceType::time;
  });
  const bool slow_path = user_ns && joins_in_child;
  if (slow_path) {
    args.unshare_user = user_ns->path.empty();
    args.fork_into_pid_ns = (flags & CLONE_NEWPID) != 0;
    args.unshare_flags = flags & ~static_cast<unsigned long>(CLONE_NEWUSER | CLONE_NEWPID);
    flags = 0;
  }
  // pid and time namespaces apply to children: enter or create them here, before clone.
  for (auto& [type, fd] : joins) {
    if (type == NamespaceType::pid || type == NamespaceType::time)
      linux::join_namespace(fd.get(), type, spec.find_namespace(type)->path);
    else
      args.join.emplace_back(type, fd.get());
  }
  const oci::Namespace* time_ns = spec.find_namespace(NamespaceType::time);
  if (time_ns && time_ns->path.empty()) {
    if (::unshare(0x00000080 /* CLONE_NEWTIME */) < 0) fail_errno("create the time namespace");
    linux::write_time_offsets(spec.linux.time_offsets);
  }

  // Idmapped mounts need rights over the source's filesystem, and bind mounts the right to
  // look their source up, which the container's user namespace lacks: their trees are made
  // here and attached by the child.
  std::vector<UniqueFd> mount_trees;
  if (user_ns) mount_trees = prepare_mount_trees(spec, bundle, joins);
  for (const auto& t : mount_trees) args.mount_trees.push_back(t ? t.get() : -1);

  auto [parent_sync, child_sync] = linux::SyncChannel::make_pair();
  if (args.fork_into_pid_ns) parent_sync.enable_credentials();
  args.spec = &spec;
  args.bundle = bundle;
  args.rootfs = rootfs;
  args.no_pivot = o.no_pivot;
  args.no_new_keyring = o.no_new_keyring;
  args.preserve_fds = preserve_fds;
  args.console_socket = console.get();
  args.pty_to_parent = foreground_terminal && spec.process->terminal && !console;
  args.start_listener = listener.get();
  args.start_conn = start_conn_child.get();
  if (out.start_conn) args.close_in_child.push_back(out.start_conn.get());
  args.runtime_hooks = !spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty();
  args.state_json = state_json(rec, "creating");
  args.sync = &child_sync;
  args.close_in_child.push_back(out.dir.dir_fd());
  // Compiled here, once, not in the child: the child gets a copy of the program with its
  // memory, and the cache (if the caller keeps one) is on the host's side of pivot_root.
  linux::SeccompProgram seccomp;
  if (!spec.linux.seccomp.is_null()) {
    seccomp = linux::compile_seccomp(spec.linux.seccomp, o.seccomp_cache_dir);
    args.seccomp = &seccomp;
  }

  // Not dumpable from before the child exists (clone copies it): until its execve the child
  // runs this binary in the container's pid namespace, and /proc/PID/exe of a dumpable process
  // would let the container reach the host's runtime binary (CVE-2019-5736).
  // Rootless, the child makes itself non-dumpable once its id mappings are written: the
  // kernel (and newuidmap) let only its owner write them, and a non-dumpable process's /proc
  // files belong to root. Until then it runs nothing but this binary's sealed copy.
  args.dumpable_until_mapped = o.rootless && user_ns != nullptr;
  if (!args.dumpable_until_mapped && ::prctl(PR_SET_DUMPABLE, 0) < 0)
    fail_errno("prctl(PR_SET_DUMPABLE, 0)");
  const bool own_mount_ns = spec.has_namespace(NamespaceType::mount);
  const uint64_t rootfs_mount_before = own_mount_ns ? 0 : linux::mount_id_of(rootfs);
  if (!own_mount_ns) guard.set_host_rootfs(rootfs, rootfs_mount_before);
  // The child is born in the cgroup2 directory and moves itself into the v1 ones, which spares
  // the RCU grace period of writing its PID to cgroup.procs (cgroups/placement.h). The slow
  // path forks again in the child and keeps the parent's writes.
  cgroups::Placement placement;
  bool self_placed = cgroup && !slow_path && cgroup->open_placement(placement);
  if (self_placed) args.cgroup_placement = &placement;
  log::debug(fmt::format("create {}: cloning the container process (flags {:#x}{}{})", o.id, flags,
                         slow_path ? ", namespaces joined then created" : "",
                         self_placed ? ", born in its cgroup" : ""));
  pid_t pid = clone_child(flags, self_placed ? &placement : nullptr);
  if (pid == 0) {
    parent_sync.close();
    container_init(args);
  }
  log::debug(fmt::format("create {}: container process {}", o.id, pid));
  if (args.cgroup_placement && placement.v1_tasks.empty() && !placement.unified) {
    // clone3 refused the cgroup (clone_child dropped the placement): the parent's writes.
    self_placed = false;
  }
  placement = {};  // the child has its own copies of the fds
  guard.set_pid(pid);
  child_sync.close();
  listener.reset();
  start_conn_child.reset();
  console.reset();
  rec.pid = pid;

  if (user_ns && user_ns->path.empty() && !slow_path)
    linux::write_id_mappings(pid, spec.linux.uid_mappings, spec.linux.gid_mappings);
  if (cgroup && !self_placed) cgroup->add_process(pid);
  log::debug(fmt::format("create {}: process {} in its cgroup, setting its limits", o.id, pid));
  const oci::Process& proc = *spec.process;
  linux::apply_rlimits(pid, proc.rlimits);
  if (proc.oom_score_adj) linux::apply_oom_score_adj(pid, *proc.oom_score_adj);
  if (proc.io_priority) linux::apply_io_priority(pid, *proc.io_priority);
  if (proc.scheduler) linux::apply_scheduler(pid, *proc.scheduler);
  parent_sync.send(linux::SyncMsg::go, 0, state_json(rec, "creating"));
  if (args.unshare_user) {
    parent_sync.expect(linux::SyncMsg::userns_ready, "set up the user namespace");
    linux::write_id_mappings(pid, spec.linux.uid_mappings, spec.linux.gid_mappings);
    parent_sync.send(linux::SyncMsg::maps_done);
  }
  if (args.fork_into_pid_ns) {
    pid_t init_pid =
        parent_sync.recv_pid(linux::SyncMsg::grandchild_pid, "set up the pid namespace");
    ::waitpid(pid, nullptr, 0);  // the intermediate process, which has done its part
    pid = init_pid;
    log::debug(fmt::format("create {}: init {} in the new pid namespace", o.id, pid));
    guard.set_pid(pid);
    rec.pid = pid;
    parent_sync.send(linux::SyncMsg::go, 0, state_json(rec, "creating"));
  }
  if (args.runtime_hooks) {
    parent_sync.expect(linux::SyncMsg::mounts_ready, "set up the container");
    std::string st = state_json(rec, "creating");
    log::debug(fmt::format("create {}: running {} prestart and {} createRuntime hooks", o.id,
                           spec.hooks.prestart.size(), spec.hooks.create_runtime.size()));
    // The runtime's own hooks run in the bundle, as runc's (which works from there).
    run_hooks(spec.hooks.prestart, "prestart", st, bundle);
    run_hooks(spec.hooks.create_runtime, "createRuntime", st, bundle);
    parent_sync.send(linux::SyncMsg::hooks_done);
  }
  if (args.pty_to_parent) {
    // The master arrives before `ready`; an error message instead ends the wait with EOF.
    out.pty_master = parent_sync.recv_fd(linux::SyncMsg::pty_master);
  }
  if (linux::seccomp_uses_notify(spec.linux.seccomp)) {
    // The init loads the filter and hands the listener over before `ready`; it is passed on to
    // the agent now, while the state is still "creating" (the init may be waiting on the agent
    // for a notified syscall of its own). Failing here fails create, and the guard cleans up.
    UniqueFd notify = parent_sync.recv_fd(linux::SyncMsg::seccomp_listener);
    linux::send_seccomp_listener(spec.linux.seccomp, notify.get(),
                                 nlohmann::json::parse(state_json(rec, "creating")), pid);
  }
  log::debug(fmt::format("create {}: waiting for the container process to finish set-up", o.id));
  parent_sync.expect(linux::SyncMsg::ready, "set up the container");
  auto st = read_proc_stat(pid);
  if (!st) fail("the container process {} exited during set-up", pid);
  rec.pid_start_time = st->start_time;
  if (!own_mount_ns) {
    uint64_t bind = linux::mount_id_of(rootfs);
    if (bind != rootfs_mount_before) rec.host_rootfs_mount_id = bind;
  }
  if (record_later)
    out.record_saved = false;
  else
    out.dir.save(rec);
  write_pid_file(o.pid_file, pid);
  guard.dismiss();
  log::debug(fmt::format("create {}: created, init pid {}", o.id, pid));
  return out;
}

pid_t Runtime::create(const CreateOptions& opts) {
  CreatedContainer c = create_container(opts, false);
  return c.rec.pid;
}

HeldContainer Runtime::create_held(const CreateOptions& opts) {
  auto c = std::make_unique<CreatedContainer>(create_container(opts, false, true));
  { ContainerDir unlock = std::move(c->dir); }  // other commands may act on it meanwhile
  return HeldContainer(std::move(c));
}

}  // namespace vessel::runtime
