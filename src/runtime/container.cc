#include "runtime/container.h"

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

// The name of the user who owns a container's state directory, as `list` prints it. Looked up
// when listed, not at create: NSS (nsswitch.conf, /etc/passwd, the nscd socket) costs a dozen
// syscalls and its code's pages on every start. Records written before kept the name in "owner".
std::string owner_of(const ContainerRecord& rec, const std::string& dir) {
  if (!rec.owner.empty()) return rec.owner;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return "";
  struct passwd* pw = ::getpwuid(st.st_uid);
  return pw ? pw->pw_name : std::to_string(st.st_uid);
}

oci::State make_state(const ContainerRecord& rec, const std::string& status) {
  oci::State s;
  s.oci_version = oci::kSpecVersion;
  s.id = rec.id;
  s.status = status;
  s.pid = status == "stopped" ? 0 : rec.pid;
  s.bundle = rec.bundle;
  if (rec.config.contains("annotations") && rec.config["annotations"].is_object())
    for (auto& [k, v] : rec.config["annotations"].items())
      if (v.is_string()) s.annotations[k] = v.get<std::string>();
  return s;
}

// Whether the recorded config.json has hooks of this kind: most have none, and the record's
// config need not be parsed again (and validated) to learn that.
bool has_hooks(const nlohmann::json& config, const char* kind) {
  auto hooks = config.find("hooks");
  if (hooks == config.end() || !hooks->is_object()) return false;
  auto list = hooks->find(kind);
  return list != hooks->end() && !list->empty();
}

// The working directory of the runtime's hooks: the bundle while it exists (a poststop hook
// still runs, in the caller's directory, when the bundle has been removed first).
std::string hook_dir(const ContainerRecord& rec) {
  struct stat st;
  return ::stat(rec.bundle.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? rec.bundle : "";
}

// Sends the start request and waits until the container's process has exec'd its program
// (EOF) or reported why it could not (text).
void release_container(const ContainerDir& dir) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  UniqueFd sock(fd);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::string path = linux::fd_path(dir.dir_fd()) + "/start.sock";
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    fail_errno("connect to the container process ({})", dir.file("start.sock"));
  char go = 'S';
  write_all(sock.get(), &go, 1);
  std::string reply = read_fd(sock.get());
  if (!reply.empty()) fail("start: {}", reply);
}

}  // namespace

std::string state_json(const ContainerRecord& rec, const std::string& status) {
  return oci::state_to_json(make_state(rec, status)).dump();
}

HeldContainer::HeldContainer(std::unique_ptr<CreatedContainer> c) : c_(std::move(c)) {}
HeldContainer::HeldContainer(HeldContainer&&) noexcept = default;
HeldContainer& HeldContainer::operator=(HeldContainer&&) noexcept = default;
HeldContainer::~HeldContainer() = default;
pid_t HeldContainer::pid() const { return c_->rec.pid; }

void Runtime::start_held(HeldContainer& held) {
  CreatedContainer& c = *held.c_;
  c.dir = store_.open(c.rec.id);  // locked again for the start, as `start` would
  c.rec = c.dir.load();
  std::string status = container_status(c.rec);
  if (status != "created")
    fail("cannot start container \"{}\": it is {}, not created", c.rec.id, status);
  start_created(c);
  { ContainerDir unlock = std::move(c.dir); }
}

// The start of a container created by this process: released over the socket pair, with the
// record (and, when create left it out, the PID with it) saved first, so that from the moment
// the program may run the state says so; if this process dies before the release, the
// container's process sees EOF and ends.
void Runtime::start_created(CreatedContainer& c) {
  if (!c.start_conn) {
    start_locked(c.dir, c.rec);
    return;
  }
  log::debug(fmt::format("start {}: releasing init {} to run its program", c.rec.id, c.rec.pid));
  c.rec.started = true;
  c.dir.save(c.rec);
  c.record_saved = true;
  char go = 'S';
  if (::send(c.start_conn.get(), &go, 1, MSG_NOSIGNAL) != 1)
    fail_errno("start {}: release the container's process {}", c.rec.id, c.rec.pid);
  std::string reply = read_fd(c.start_conn.get());
  c.start_conn.reset();
  if (!reply.empty()) fail("start: {}", reply);
  log::debug(fmt::format("start {}: the program runs", c.rec.id));
  if (!c.poststart.empty())
    log::debug(fmt::format("start {}: running {} poststart hooks", c.rec.id, c.poststart.size()));
  for (const auto& w : run_hooks_collecting(c.poststart, "poststart", state_json(c.rec, "running"),
                                            hook_dir(c.rec)))
    log::warn(w);
}

std::string container_status(const ContainerRecord& rec) {
  if (rec.pid <= 0) return "creating";
  if (!process_alive(rec.pid, rec.pid_start_time)) return "stopped";
  if (!rec.cgroup.is_null()) {
    try {
      if (cgroups::load_manager(rec.cgroup)->frozen()) return "paused";
    } catch (const std::exception& e) {
      log::debug(std::string("container status: cannot read the freezer: ") + e.what());
    }
  }
  return rec.started ? "running" : "created";
}

void Runtime::start_locked(ContainerDir& dir, ContainerRecord& rec) {
  std::string status = container_status(rec);
  if (status != "created")
    fail("cannot start container \"{}\": it is {}, not created", rec.id, status);
  log::debug(fmt::format("start {}: releasing init {} to run its program", rec.id, rec.pid));
  release_container(dir);
  log::debug(fmt::format("start {}: the program runs", rec.id));
  rec.started = true;
  dir.save(rec);
  ::unlink(dir.file("start.sock").c_str());
  if (!has_hooks(rec.config, "poststart")) return;
  oci::Spec spec = oci::parse_spec(rec.config.dump());
  if (!spec.hooks.poststart.empty())
    log::debug(
        fmt::format("start {}: running {} poststart hooks", rec.id, spec.hooks.poststart.size()));
  for (const auto& w : run_hooks_collecting(spec.hooks.poststart, "poststart",
                                            state_json(rec, "running"), hook_dir(rec)))
    log::warn(w);
}

void Runtime::start(const std::string& id) {
  ContainerDir dir = store_.open(id);
  ContainerRecord rec = dir.load();
  start_locked(dir, rec);
}

oci::State Runtime::state(const std::string& id) const { return describe(id).state; }

ListEntry Runtime::describe(const std::string& id) const {
  auto rec = store_.peek(id);
  if (!rec) {
    validate_container_id(id);
    fail("container \"{}\" does not exist", id);
  }
  return {make_state(*rec, container_status(*rec)), rec->created,
          owner_of(*rec, store_.root() + "/" + id), rec->rootfs};
}

void Runtime::kill(const std::string& id, int signal, bool all) {
  ContainerDir dir = store_.open(id);
  ContainerRecord rec = dir.load();
  std::string status = container_status(rec);
  // Stopped, with no cgroup left (a rootless container's, or one systemd removed with its
  // unit): nothing to signal, and not an error (runc's contract).
  if (all && status == "stopped" &&
      (rec.cgroup.is_null() || cgroups::load_manager(rec.cgroup)->pids().empty()))
    return;
  log::debug(fmt::format("kill {}: signal {} to {} ({})", id, signal,
                         all ? "every process in its cgroup" : "its init", status));
  if (all && !rec.cgroup.is_null()) {
    cgroups::load_manager(rec.cgroup)->kill_all(signal);
    return;
  }
  // Without a cgroup (rootless) --all can only reach the init process; with a pid namespace
  // of its own, its SIGKILL takes every other process with it.
  if (status != "created" && status != "running" && status != "paused")
    fail("cannot kill container \"{}\": it is {}", id, status);
  UniqueFd pidfd = open_pidfd(rec.pid, rec.pid_start_time);
  if (!pidfd) fail("cannot kill container \"{}\": its process has exited", id);
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) < 0)
    fail_errno("send signal {} to container \"{}\" (pid {})", signal, id, rec.pid);
  // A frozen process only acts on SIGKILL once thawed (as runc 1.2 does).
  if (status == "paused" && signal == SIGKILL && !rec.cgroup.is_null())
    cgroups::load_manager(rec.cgroup)->thaw();
}

void Runtime::destroy_locked(ContainerDir& dir, const ContainerRecord& rec) {
  if (UniqueFd pidfd = open_pidfd(rec.pid, rec.pid_start_time)) {
    log::debug(fmt::format("delete {}: killing init {}", rec.id, rec.pid));
    ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    // A paused container's process would sit out the SIGKILL frozen until thawed.
    if (!rec.cgroup.is_null()) {
      try {
        auto cg = cgroups::load_manager(rec.cgroup);
        if (cg->frozen()) cg->thaw();
      } catch (const std::exception& e) {
        log::warn(std::string("thaw the cgroup: ") + e.what());
      }
    }
    if (!wait_pidfd(pidfd.get(), 10000))
      log::warn(
          fmt::format("container \"{}\": process {} did not exit after SIGKILL", rec.id, rec.pid));
  }
  if (!rec.cgroup.is_null()) {
    log::debug(fmt::format("delete {}: removing the cgroup", rec.id));
    try {
      cgroups::load_manager(rec.cgroup)->destroy();
    } catch (const std::exception& e) {
      log::warn(std::string("remove the cgroup: ") + e.what());
    }
  }
  if (rec.host_rootfs_mount_id) {
    // The container's mounts, in the host's mount table: gone with the rootfs bind under them.
    try {
      linux::detach_mount_if_same(rec.rootfs, rec.host_rootfs_mount_id);
    } catch (const std::exception& e) {
      log::warn(std::string("detach the container's rootfs mounts: ") + e.what());
    }
  }
  if (has_hooks(rec.config, "poststop")) {
    try {
      oci::Spec spec = oci::parse_spec(rec.config.dump());
      log::debug(
          fmt::format("delete {}: running {} poststop hooks", rec.id, spec.hooks.poststop.size()));
      for (const auto& w : run_hooks_collecting(spec.hooks.poststop, "poststop",
                                                state_json(rec, "stopped"), hook_dir(rec)))
        log::warn(w);
    } catch (const std::exception& e) {
      log::warn(std::string("poststop hooks: ") + e.what());
    }
  }
  dir.remove();
  log::debug(fmt::format("delete {}: state directory removed", rec.id));
}

void Runtime::remove(const std::string& id, bool force) {
  if (force && !store_.peek(id)) {
    validate_container_id(id);
    // A directory without a readable state.json: a runtime killed between its mkdir and the
    // first record (which is written before anything else exists), or in the middle of a
    // delete. Once its lock is ours and the record is still missing, nothing else is left.
    if (std::optional<ContainerDir> dir = store_.open_partial(id)) {
      if (std::optional<ContainerRecord> rec = dir->try_load()) {
        destroy_locked(*dir, *rec);
      } else {
        log::debug(fmt::format("delete {}: state directory without a record, removed", id));
        dir->remove();
      }
    }
    return;  // runc's contract: forcing the delete of what is not there succeeds
  }
  ContainerDir dir = store_.open(id);
  ContainerRecord rec = dir.load();
  std::string status = container_status(rec);
  if ((status == "running" || status == "paused") && !force)
    fail("cannot delete container \"{}\" that is not stopped: {} (use --force)", id, status);
  log::debug(fmt::format("delete {}: container is {}{}", id, status, force ? ", forced" : ""));
  destroy_locked(dir, rec);
}

std::vector<ListEntry> Runtime::list() const {
  std::vector<ListEntry> out;
  for (const auto& id : store_.list()) {
    auto rec = store_.peek(id);
    if (!rec) continue;
    out.push_back({make_state(*rec, container_status(*rec)), rec->created,
                   owner_of(*rec, store_.root() + "/" + id), rec->rootfs});
  }
  return out;
}

namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace

int Runtime::run(const RunOptions& o) {
  if (o.detach) {
    CreatedContainer c = create_container(o.create, false, true, true);
    start_created(c);
    return 0;
  }
  // Signals are taken through a signalfd from before the container exists, so none is lost;
  // the container's process unblocks them for itself.
  sigset_t all, old;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &old);
  struct MaskRestore {
    sigset_t m;
    ~MaskRestore() { ::sigprocmask(SIG_SETMASK, &m, nullptr); }
  } restore{old};
  if (!o.no_subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  std::string id = o.create.id;
  log::debug(fmt::format("run {}: create, then start in the foreground", id));
  CreatedContainer c = create_container(o.create, true, true, true);
  pid_t init_pid = c.rec.pid;
  try {
    start_created(c);
  } catch (...) {
    destroy_locked(c.dir, c.rec);
    throw;
  }
  // Other commands (state, kill, delete) may act on the container while it runs.
  { ContainerDir release = std::move(c.dir); }

  sigset_t forward;
  sigfillset(&forward);
  if (c.pty_master) sigdelset(&forward, SIGWINCH);  // the terminal proxy handles it
  int sfd = ::signalfd(-1, &forward, SFD_CLOEXEC);
  if (sfd < 0) fail_errno("signalfd");
  UniqueFd sigfd(sfd);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  std::thread proxy;
  if (c.pty_master) {
    int master = c.pty_master.get();
    int stop_fd = stop.get();
    proxy = std::thread([master, stop_fd] {
      try {
        linux::proxy_terminal(master, stop_fd);
      } catch (const std::exception& e) {
        log::warn(e.what());
      }
    });
  }

  int code = -1;
  while (code < 0) {
    struct signalfd_siginfo si;
    ssize_t n = retry_eintr([&] { return ::read(sigfd.get(), &si, sizeof si); });
    if (n != sizeof si) fail_errno("read signalfd");
    if (si.ssi_signo == SIGCHLD) {
      int status;
      pid_t p;
      while ((p = ::waitpid(-1, &status, WNOHANG)) > 0)
        if (p == init_pid) code = exit_code_of(status);
      continue;
    }
    ::kill(init_pid, static_cast<int>(si.ssi_signo));
  }
  log::debug(fmt::format("run {}: init {} exited, code {}", id, init_pid, code));
  if (proxy.joinable()) {
    // Let the proxy drain what the container wrote before it exited.
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(stop.get(), &one, sizeof one);
    proxy.join();
  }
  if (!o.keep) {
    try {
      ContainerDir dir = store_.open(id);
      destroy_locked(dir, dir.load());
    } catch (const Error& e) {
      log::debug(std::string("delete after run: ") + e.what());
    }
  }
  return code;
}

int parse_signal(const std::string& s) {
  if (s.empty()) fail("empty signal");
  if (std::all_of(s.begin(), s.end(), ::isdigit)) {
    int n = std::stoi(s);
    if (n <= 0 || n >= NSIG) fail("invalid signal number {}", s);
    return n;
  }
  std::string name = s;
  for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  static const std::pair<const char*, int> table[] = {
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
      {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
      {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
      {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
      {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
      {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
      {"SYS", SIGSYS},
  };
  for (const auto& [n, v] : table)
    if (name == n) return v;
  if (name.rfind("RTMIN", 0) == 0 || name.rfind("RTMAX", 0) == 0) {
    bool min = name[4] == 'I';
    int base = min ? SIGRTMIN : SIGRTMAX;
    std::string rest = name.substr(5);
    int off = rest.empty() ? 0 : std::stoi(rest);
    int sig = base + off;
    if (sig < SIGRTMIN || sig > SIGRTMAX) fail("invalid signal {}", s);
    return sig;
  }
  fail("unknown signal \"{}\"", s);
}

}  // namespace vessel::runtime
