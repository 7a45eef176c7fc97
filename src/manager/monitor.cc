// The per-container monitor, the role conmon plays for podman: the container's parent (a child
// subreaper), which owns its stdio, writes the log, records the exit, applies the restart policy
// and serves attached clients, and outlives the `vessel` command that started it. One process
// runs two programs in turn: this code (vessel-monitor-ctl, C++: the store, the network, the
// runtime) before the container starts and after it exits, and vessel-monitor
// (src/monitor/vessel_monitor.c, small C) while it runs. See docs/architecture.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "linux/terminal.h"
#include "manager/attach.h"
#include "manager/checkpoint.h"
#include "manager/containers.h"
#include "manager/events.h"
#include "manager/networks.h"
#include "manager/oci_runtime.h"
#include "manager/rootfs.h"
#include "manager/rootless.h"
#include "manager/rootless_netns.h"
#include "manager/slirp.h"
#include "network/netns.h"
#include "runtime/container.h"
#include "runtime/process.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

struct Stdio {
  UniqueFd out, err;  // read ends (no terminal)
  UniqueFd in;        // write end for -i (no terminal)
  UniqueFd pty;       // terminal master
};

sigset_t monitor_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaddset(&set, s);
  return set;
}

void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

UniqueFd listen_unix(const std::string& path, int backlog) {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) fail_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) fail("console socket path {} is too long", path);
  std::strcpy(addr.sun_path, path.c_str());
  ::unlink(path.c_str());
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail_errno("bind {}", path);
  if (::listen(s.get(), backlog) != 0) fail_errno("listen {}", path);
  return s;
}

// --network container:X: the network namespace of X as it is now (X's kept namespace, or its
// init's when X has none of its own to keep), written into config.json before each start.
void join_shared_netns(Store& store, const ContainerRecord& c, const std::string& dir) {
  std::string mode = c.options.value("network", "");
  if (mode.rfind("container:", 0) != 0) return;
  auto other = store.container_by_id(mode.substr(10));
  if (!other) fail("container {}: the container whose network it shares is gone", c.name);
  if (other->state != "running" && other->state != "paused")
    fail("container {}: container {}, whose network it shares, is not running", c.name,
         other->name);
  json cfg = json::parse(read_file(dir + "/config.json"));
  if (other->options.value("network", "") == "host") {
    // X has the host's network: so has this one, with no namespace to join (which a user could
    // not: the host's belongs to the initial user namespace).
    json kept = json::array();
    for (const auto& ns : cfg["linux"]["namespaces"])
      if (ns["type"] != "network") kept.push_back(ns);
    cfg["linux"]["namespaces"] = kept;
    write_file_atomic(dir + "/config.json", cfg.dump(2), 0600);
    return;
  }
  std::string path = netns_path(store, other->id);
  if (!network::netns_exists(path)) path = "/proc/" + std::to_string(other->pid) + "/ns/net";
  for (auto& ns : cfg["linux"]["namespaces"])
    if (ns["type"] == "network") ns["path"] = path;
  write_file_atomic(dir + "/config.json", cfg.dump(2), 0600);
  // An ordinary user's: X's network namespace is owned by X's user namespace (the user's
  // network one for X on a user network, else X's own), which this container then joins too.
  if (::geteuid() != 0)
    rootless_netns_spec(store, dir + "/config.json", path,
                        "/proc/" + std::to_string(other->pid) + "/ns/user");
}

// Creates and starts the container through the runtime library, with the container's
// stdio on pipes (or a terminal) this monitor owns. Returns the init's host PID.
// A rootless container's slirp4netns (manager/slirp.h): closing this stops it; each launch
// replaces the previous one, and it ends with this monitor.
UniqueFd g_slirp_exit;

// `restore`: the container's processes come back from its checkpoint (<dir>/checkpoint, made
// by `vessel checkpoint`) instead of being created and started.
pid_t launch(Store& store, const ContainerRecord& c, Stdio& io, const RestoreCall* restore) {
  std::string dir = container_dir(store, c.id);
  // start_container mounted the root filesystem; it stays mounted until this monitor ends.
  if (!rootfs_mounted(dir)) fail("the root filesystem of container {} is not mounted", c.name);

  join_shared_netns(store, c, dir);
  // An ordinary user's container on user networks: the namespace setup made for it, joined
  // with the user's network user namespace; the container keeps it from create on.
  // With --userns=keep-id, a user namespace of its own below the user's network one too.
  UniqueFd user_netns = std::move(pending_rootless_netns());
  UniqueFd own_userns = std::move(pending_rootless_userns());
  if (user_netns)
    rootless_netns_spec(
        store, dir + "/config.json", fmt::format("/proc/{}/fd/{}", ::getpid(), user_netns.get()),
        own_userns ? fmt::format("/proc/{}/fd/{}", ::getpid(), own_userns.get()) : "");
  auto rt = runtime_for(store, c);  // vessel's own in this process, or a program
  try {
    rt->remove(c.id, true);  // a previous run's record
  } catch (const Error&) {
  }
  bool tty = c.options.value("tty", false);
  bool interactive = c.options.value("interactive", false);

  UniqueFd console_listener;
  std::string console_path;
  int child_fds[3] = {-1, -1, -1};
  UniqueFd keep[3];
  if (tty) {
    mkdir_p(store.paths().runroot + "/console", 0700);
    console_path = store.paths().runroot + "/console/" + c.id.substr(0, 16) + ".sock";
    console_listener = listen_unix(console_path, 1);
  } else {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
    io.out.reset(p[0]);
    keep[1].reset(p[1]);
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
    io.err.reset(p[0]);
    keep[2].reset(p[1]);
    if (interactive) {
      if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
      keep[0].reset(p[0]);
      io.in.reset(p[1]);
    } else {
      // A pipe whose write end is closed: reads see end-of-file, as from /dev/null, but it is
      // the container's own, which CRIU can checkpoint (the host's /dev/null is a file on a
      // mount outside the container's mount namespace, which CRIU refuses to dump).
      if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
      keep[0].reset(p[0]);
      ::close(p[1]);
    }
    for (int i = 0; i < 3; ++i) child_fds[i] = keep[i].get();
  }

  // The runtime hands the container the caller's fds 0-2: make them the container's stdio
  // for the duration of create, with this monitor's signals unblocked (the init inherits
  // the mask).
  UniqueFd saved[3];
  if (!tty)
    for (int i = 0; i < 3; ++i) {
      saved[i].reset(::fcntl(i, F_DUPFD_CLOEXEC, 3));
      ::dup2(child_fds[i], i);
    }
  sigset_t none, old;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, &old);
  pid_t pid = 0;
  std::string error;
  try {
    if (restore)
      pid = rt->restore(c.id, dir, checkpoint_dir(store, c.id), restore_flags(store, c, *restore));
    else
      pid = rt->create(c.id, dir, console_path, ::geteuid() != 0);
  } catch (const std::exception& e) {
    error = e.what();
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!tty)
    for (int i = 0; i < 3; ++i) ::dup2(saved[i].get(), i);
  if (!error.empty()) {
    if (!console_path.empty()) ::unlink(console_path.c_str());
    fail("{}", error);
  }
  if (tty) {
    UniqueFd conn(::accept4(console_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) fail_errno("accepting the console of container {}", c.name);
    io.pty = linux::recv_fd(conn.get());
    ::unlink(console_path.c_str());
  }
  if (!restore) rt->start(c.id);
  // After start: until its execve the container's process is not dumpable, and its
  // namespaces are out of the user's (and so slirp4netns's) reach. The network comes up a
  // moment after the program starts.
  g_slirp_exit.reset();
  if (c.options.value("network", "") == "slirp4netns") {
    try {
      g_slirp_exit =
          start_slirp4netns(pid, c.options.value("publish", std::vector<network::PortMapping>{}),
                            store.paths().runroot, c.id);
    } catch (...) {
      try {
        rt->remove(c.id, true);
      } catch (const Error&) {
      }
      throw;
    }
  }
  if (io.out) set_nonblock(io.out.get());
  if (io.err) set_nonblock(io.err.get());
  if (io.pty) set_nonblock(io.pty.get());
  return pid;
}

struct Clients {
  std::vector<UniqueFd> fds;
  // Not closed here: the kernel closes them when this process exits, after the store is
  // closed, and an attached `vessel run --rm` takes that end-of-file as the sign that
  // everything is done (wait_for_monitor_end in manager/attach.h).
  ~Clients() {
    for (auto& fd : fds) (void)fd.release();
  }
  void drop(int fd) {
    for (auto it = fds.begin(); it != fds.end(); ++it)
      if (it->get() == fd) {
        fds.erase(it);
        return;
      }
  }
  void broadcast(Frame t, const std::string& data) {
    for (auto it = fds.begin(); it != fds.end();) {
      if (!write_frame(it->get(), t, data))
        it = fds.erase(it);
      else
        ++it;
    }
  }
};

}  // namespace

bool should_restart(const ContainerRecord& c, int exit_code) {
  if (c.stop_requested) return false;
  std::string policy = c.options.value("restart", "no");
  if (policy == "always" || policy == "unless-stopped") return true;
  if (policy == "on-failure") {
    int max = c.options.value("restart_max", 0);
    return exit_code != 0 && (max == 0 || c.restart_count < max);
  }
  return false;
}

namespace {

int64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// This program's path; a binary replaced on disk (a rebuild, an upgrade) reads "PATH (deleted)",
// and the exec back then runs the new one at PATH.
std::string self_path() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) fail_errno("readlink /proc/self/exe");
  std::string self(buf, static_cast<size_t>(n));
  const std::string deleted = " (deleted)";
  if (self.size() > deleted.size() && self.ends_with(deleted))
    self.resize(self.size() - deleted.size());
  return self;
}

void keep_across_exec(int fd) { ::fcntl(fd, F_SETFD, 0); }

// Makes this process vessel-monitor (src/monitor/vessel_monitor.c) for as long as the container
// runs: it gets the container's stdio, the attach listener and the clients, and execs this
// program again (monitor_main with call.resume) once the init has exited. Returns only when
// the exec failed (errno set).
void exec_supervisor(Store& store, const ContainerRecord& rec, pid_t pid, Stdio& io,
                     Clients& clients, int attach_fd, int64_t backoff_ms) {
  std::string self = self_path();
  std::string monitor = self.substr(0, self.rfind('/')) + "/vessel-monitor";
  std::vector<std::string> args = {
      "vessel-monitor",    "--dir",    container_dir(store, rec.id), "--init",
      std::to_string(pid), "--attach", std::to_string(attach_fd)};
  auto pass = [&](const char* flag, int fd) {
    if (fd < 0) return;
    keep_across_exec(fd);
    args.push_back(flag);
    args.push_back(std::to_string(fd));
  };
  auto ro = rec.options.get<RunOptions>();
  if (ro.log_max_size > 0) {
    args.push_back("--log-max");
    args.push_back(std::to_string(ro.log_max_size));
  }
  if (ro.log_max_files > 0) {
    args.push_back("--log-files");
    args.push_back(std::to_string(ro.log_max_files));
  }
  pass("--hold", g_slirp_exit.get());  // slirp4netns runs as long as the container
  pass("--out", io.out.get());
  pass("--err", io.err.get());
  pass("--in", io.in.get());
  pass("--pty", io.pty.get());
  for (auto& c : clients.fds) pass("--client", c.get());
  keep_across_exec(attach_fd);
  for (std::string a :
       {std::string("--"), self, std::string("--root"), store.paths().root,
        std::string("--runroot"), store.paths().runroot, std::string("--attach-fd"),
        std::to_string(attach_fd), std::string("--started-ms"), std::to_string(monotonic_ms()),
        std::string("--backoff-ms"), std::to_string(backoff_ms), rec.id})
    args.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(monitor.c_str(), argv.data());
  int err = errno;
  for (int fd : {io.out.get(), io.err.get(), io.in.get(), io.pty.get(), attach_fd})
    if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  for (auto& c : clients.fds) ::fcntl(c.get(), F_SETFD, FD_CLOEXEC);
  errno = err;
}

// The container could not be (re)started: record why and clean up. Returns the monitor's status.
int launch_failed(Store& store, ContainerRecord& rec, Clients& clients, bool first,
                  const std::string& what) {
  log::error(what);
  rec.state = "exited";
  rec.pid = 0;
  rec.exit_code = 127;
  rec.error = what;
  rec.finished_at = now_rfc3339();
  store.update_container(rec);
  clients.broadcast(first ? Frame::error : Frame::exited, first ? what : "127");
  teardown_container_network(store, rec.id);
  try {
    unmount_rootfs(container_dir(store, rec.id));
  } catch (const Error&) {
  }
  return 1;
}

int after_exit(Store& store, const std::string& id, Clients& clients, int attach_fd, int exit_code,
               int64_t started_ms, int64_t backoff_ms, const std::string& error);

// Starts the container, records it as running and becomes vessel-monitor: returns only when the
// start failed, or vessel-monitor could not run (then the container is killed).
int start_and_hand_off(Store& store, ContainerRecord& rec, Clients& clients, int attach_fd,
                       bool first, int64_t backoff_ms, const RestoreCall* restore = nullptr) {
  Stdio io;
  pid_t pid = 0;
  try {
    pid = launch(store, rec, io, restore);
  } catch (const std::exception& e) {
    return launch_failed(store, rec, clients, first, e.what());
  }
  rec.state = "running";
  rec.pid = pid;
  rec.started_at = now_rfc3339();
  store.update_container(rec);
  set_oom_killed(store, rec.id, false);
  emit_container_event(store, rec, restore ? "restore" : "start");
  clients.broadcast(Frame::started, std::to_string(pid));
  int64_t started = monotonic_ms();
  exec_supervisor(store, rec, pid, io, clients, attach_fd, backoff_ms);
  std::string why = std::string("cannot run vessel-monitor next to ") + self_path() + ": " +
                    std::strerror(errno) + "; the container was killed";
  log::error(why);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return after_exit(store, rec.id, clients, attach_fd, 128 + SIGKILL, started, backoff_ms, why);
}

// After the container's init exited (vessel-monitor execs this program again): the runtime's
// record goes, then the restart policy decides between starting it again and the end.
int after_exit(Store& store, const std::string& id, Clients& clients, int attach_fd, int exit_code,
               int64_t started_ms, int64_t backoff_ms, const std::string& error) {
  auto rec = store.container_by_id(id);
  // The cgroup goes with the runtime's record: first its count of OOM kills (State.OOMKilled),
  // from vessel's own runtime (an external one keeps its record elsewhere).
  bool oom = false;
  if (rec && rec->options.value("runtime", std::string()).empty()) {
    try {
      oom = runtime::Runtime(store.paths().runtime_root()).oom_kills(id) > 0;
    } catch (const std::exception& e) {
      log::warn(e.what());
    }
  }
  try {
    // A record removed under us: vessel's own runtime as before (`rm` removes the rest).
    runtime_for(store, rec ? rec->options.value("runtime", std::string()) : "")->remove(id, true);
  } catch (const Error& e) {
    log::warn(e.what());
  }
  if (!rec) {  // removed under us
    teardown_container_network(store, id);
    return 0;
  }
  // `vessel checkpoint` dumped the container (CRIU ended its processes, SIGKILL): it stops
  // here with exit code 0 and its checkpoint kept, whatever its restart policy says.
  std::string checkpointing = container_dir(store, id) + "/" + kCheckpointingMarker;
  const bool checkpointed = ::unlink(checkpointing.c_str()) == 0;
  if (checkpointed) exit_code = 0;
  rec->exit_code = exit_code;
  rec->pid = 0;
  rec->finished_at = now_rfc3339();
  if (!error.empty()) rec->error = error;
  set_oom_killed(store, id, oom);
  if (oom) emit_container_event(store, *rec, "oom");
  emit_container_event(store, *rec, "die", {{"exitCode", std::to_string(exit_code)}});
  if (error.empty() && !checkpointed && should_restart(*rec, exit_code)) {
    // Back off 100 ms, doubling up to a minute; a run of 10 s or more resets it.
    if (monotonic_ms() - started_ms > 10000) backoff_ms = 100;
    rec->state = "restarting";
    store.update_container(*rec);
    int64_t until = monotonic_ms() + backoff_ms;
    backoff_ms = std::min<int64_t>(backoff_ms * 2, 60000);
    bool stop = false;
    while (monotonic_ms() < until) {
      ::usleep(20000);
      auto cur = store.container_by_id(id);
      if (!cur || cur->stop_requested) {
        stop = true;
        break;
      }
    }
    if (!stop) {
      rec->restart_count++;
      try {
        recheck_container_network(store, id, rec->options.get<RunOptions>());
      } catch (const std::exception& e) {
        log::error(e.what());  // the launch below reports what it means for the container
      }
      return start_and_hand_off(store, *rec, clients, attach_fd, false, backoff_ms);
    }
  }

  // An --rm container's record goes below: no "exited" write first (a monitor that dies in
  // between leaves "running" with a dead monitor, which refresh() finishes and removes).
  bool remove = rec->options.value("remove", false);
  rec->state = "exited";
  if (!remove) store.update_container(*rec);
  teardown_container_network(store, id);
  std::string dir = container_dir(store, id);
  try {
    unmount_rootfs(dir);
  } catch (const Error& e) {
    log::warn(e.what());
  }
  if (remove) {
    remove_container_tree(dir);
    store.remove_container(id);
    emit_container_event(store, *rec, "destroy");
    remove_anonymous_volumes(store, rec->options);
  }
  clients.broadcast(Frame::exited, std::to_string(exit_code));
  return 0;
}

struct Unlink {
  std::string path;
  ~Unlink() { ::unlink(path.c_str()); }
};

}  // namespace

int monitor_main(Store& store, const std::string& id, const MonitorCall& call) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // kept across the execs to and from vessel-monitor
  // Keep SQLite's page cache small (64 KiB, not the default 2 MiB).
  store.db().exec("PRAGMA cache_size=-64");
  std::string dir = container_dir(store, id);
  // Created by the first line only: most monitors log nothing, and a new file is a new inode.
  log::configure(dir + "/monitor.log", log::Format::text, false, true);
  Clients clients;
  for (int fd : call.client_fds) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    clients.fds.emplace_back(fd);
  }
  sigset_t sigs = monitor_signals();
  ::sigprocmask(SIG_BLOCK, &sigs, nullptr);

  if (call.resume) {
    UniqueFd attach_listener(call.attach_fd);
    ::fcntl(call.attach_fd, F_SETFD, FD_CLOEXEC);
    Unlink unlink_attach{attach_socket_path(store, id)};
    return after_exit(store, id, clients, attach_listener.get(), call.exit_code, call.started_ms,
                      call.backoff_ms, "");
  }

  auto rec = store.container_by_id(id);
  if (!rec) {
    clients.broadcast(Frame::error, "no such container: " + id);
    return 1;
  }
  rec->monitor_pid = ::getpid();
  rec->monitor_start_time = runtime::read_proc_stat(::getpid())->start_time;
  rec->error.clear();
  store.update_container(*rec);

  std::string attach_path = attach_socket_path(store, id);
  mkdir_p(store.paths().runroot + "/attach", 0700);
  UniqueFd attach_listener = listen_unix(attach_path, 8);
  Unlink unlink_attach{attach_path};
  try {
    setup_container_network(store, id, rec->options.get<RunOptions>());
  } catch (const std::exception& e) {
    log::error(e.what());
    rec->state = "exited";
    rec->exit_code = 127;
    rec->error = e.what();
    rec->finished_at = now_rfc3339();
    store.update_container(*rec);
    clients.broadcast(Frame::error, e.what());
    try {
      unmount_rootfs(dir);
    } catch (const Error&) {
    }
    return 1;
  }
  RestoreCall restore{call.restore_tcp_established};
  return start_and_hand_off(store, *rec, clients, attach_listener.get(), true, 100,
                            call.restore ? &restore : nullptr);
}

}  // namespace vessel::manager
