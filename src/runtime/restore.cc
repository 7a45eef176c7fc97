// `restore`: a new container from a checkpoint. The state directory and cgroup are made as
// `create` makes them; CRIU (running in the container's cgroup, in a mount namespace of its
// own where the rootfs is a mount point) restores the processes as this process's children.
// On failure everything made here is undone.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "cgroups/manager.h"
#include "linux/criu.h"
#include "linux/path.h"
#include "linux/terminal.h"
#include "oci/spec.h"
#include "runtime/container.h"
#include "runtime/container_cgroup.h"
#include "runtime/criu_common.h"
#include "runtime/process.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::runtime {
namespace {

std::string absolute_path(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) fail_errno("getcwd");
  return p == "." ? std::string(cwd) : std::string(cwd) + "/" + p;
}

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() %
            1000000000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, ns);
}

// Undoes a half-made restore: restored processes, the cgroup, the state directory.
class RestoreGuard {
 public:
  explicit RestoreGuard(ContainerDir& dir) : dir_(dir) {}
  ~RestoreGuard() {
    if (done_) return;
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (cgroup_) {
      try {
        cgroup_->kill_all(SIGKILL);
        cgroup_->destroy();
      } catch (const std::exception& e) {
        log::warn(std::string("restore: clean up the cgroup: ") + e.what());
      }
    }
    try {
      dir_.remove();
    } catch (const std::exception& e) {
      log::warn(std::string("restore: clean up the state directory: ") + e.what());
    }
  }
  void set_pid(pid_t p) { pid_ = p; }
  void set_cgroup(cgroups::Manager* m) { cgroup_ = m; }
  void dismiss() { done_ = true; }

 private:
  ContainerDir& dir_;
  pid_t pid_ = -1;
  cgroups::Manager* cgroup_ = nullptr;
  bool done_ = false;
};

std::string owner_name() {
  struct passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : std::to_string(::geteuid());
}

// CRIU mounts onto the dumped mount points and creates none: a rootfs that is not the one that
// was dumped (an engine's fresh copy plus the dumped changes, which leave mount points out)
// gets them here, as `create` makes them: a bind mount's as a file or directory like its
// source, any other's as a directory. Paths resolve inside the rootfs (no symlink leaves it).
void make_mountpoints(const oci::Spec& spec, const std::string& rootfs, const std::string& bundle) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) fail_errno("restore: open the rootfs {}", rootfs);
  std::vector<const oci::Mount*> binds = bind_mounts(spec);
  for (const auto& m : spec.mounts) {
    if (m.destination.empty() || m.destination == "/") continue;
    linux::Create kind = linux::Create::dir;
    if (std::find(binds.begin(), binds.end(), &m) != binds.end()) {
      std::string src = m.source.empty() || m.source[0] == '/' ? m.source : bundle + "/" + m.source;
      struct stat st {};
      if (::stat(src.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) kind = linux::Create::file;
    }
    try {
      linux::open_in_root(root.get(), m.destination, kind);
    } catch (const std::exception& e) {
      fail("restore: the mount point {} in {}: {}", m.destination, rootfs, e.what());
    }
  }
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int Runtime::restore(const RestoreOptions& o) {
  linux::criu::Opts opts = criu_base_opts(o.common, "restore");
  if (o.common.image_path.empty()) fail("restore: --image-path is required");
  validate_container_id(o.id);
  const std::string image = absolute_path(o.common.image_path);
  if (!path_exists(image + "/inventory.img"))
    fail("restore: --image-path {}: no checkpoint there (no inventory.img)", image);
  std::string bundle = absolute_path(o.bundle);
  oci::Spec spec = oci::load_spec(bundle);
  std::string rootfs = spec.root.path[0] == '/' ? spec.root.path : bundle + "/" + spec.root.path;
  if (!path_exists(rootfs)) fail("restore: root.path {} does not exist", rootfs);
  const bool terminal = spec.process && spec.process->terminal;
  if (terminal && o.detach && o.console_socket.empty())
    fail("restore: process.terminal is true: a detached restore needs --console-socket");
  if (!terminal && !o.console_socket.empty())
    fail("restore: --console-socket given but process.terminal is false");
  check_joined_namespaces(spec, "restore");
  if (path_exists(store_.root() + "/" + o.id)) fail("container \"{}\" already exists", o.id);

  nlohmann::json desc = nlohmann::json::object();
  if (path_exists(image + "/" + kCheckpointDescriptors))
    desc = nlohmann::json::parse(read_file(image + "/" + kCheckpointDescriptors), nullptr, false);
  // Joined namespaces, opened before anything exists; CRIU gets them as inherited fds.
  std::vector<UniqueFd> ns_fds;
  std::vector<int> keep;
  for (auto [type, key] : {std::pair{oci::NamespaceType::network, kExtNetNs},
                           std::pair{oci::NamespaceType::pid, kExtPidNs}}) {
    const oci::Namespace* ns = spec.find_namespace(type);
    if (!ns || ns->path.empty()) continue;
    int fd = ::open(ns->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      fail_errno("restore: open the {} namespace {}", oci::namespace_name(type), ns->path);
    ns_fds.emplace_back(fd);
    opts.inherit_fd.emplace_back(key, fd);
    keep.push_back(fd);
  }
  // The init's stdio at checkpoint time: pipes, sockets and files outside the container are
  // this process's stdio now.
  if (desc.contains("stdio") && desc["stdio"].is_array()) {
    const nlohmann::json stdio = desc["stdio"];
    for (size_t i = 0; i < stdio.size() && i < 3; ++i) {
      std::string name = stdio[i].is_string() ? stdio[i].get<std::string>() : "";
      // Pipes, sockets and files outside the container ("file[MNT:INODE]", checkpoint.cc).
      if (name.rfind("pipe:", 0) == 0 || name.rfind("socket:", 0) == 0 ||
          name.rfind("file[", 0) == 0)
        opts.inherit_fd.emplace_back(name, static_cast<int>(i));
    }
  }
  for (const oci::Mount* m : bind_mounts(spec)) {
    std::string src =
        m->source.empty() || m->source[0] == '/' ? m->source : bundle + "/" + m->source;
    opts.ext_mnt.emplace_back(m->destination, src);
  }
  std::string criu = require_criu(o.common, "restore");
  UniqueFd console;
  if (!o.console_socket.empty()) console = linux::connect_unix(o.console_socket);
  UniqueFd image_fd = open_directory(image, "restore: --image-path");
  UniqueFd work_fd;
  if (!o.common.work_path.empty()) {
    mkdir_p(o.common.work_path, 0700);
    work_fd = open_directory(o.common.work_path, "restore: --work-path");
  }
  std::unique_ptr<cgroups::Manager> cgroup_to_make =
      cgroups::make_manager(spec.linux.cgroups_path, o.id);
  check_existing_cgroup(*cgroup_to_make);
  make_mountpoints(spec, absolute_path(rootfs), bundle);

  ContainerDir dir = store_.create(o.id);
  ContainerRecord rec;
  rec.id = o.id;
  rec.bundle = bundle;
  rec.rootfs = absolute_path(rootfs);
  rec.created = now_rfc3339();
  rec.owner = owner_name();
  rec.config = spec.raw;
  rec.cgroup = cgroup_to_make->planned_json();
  std::unique_ptr<cgroups::Manager> cgroup;
  RestoreGuard guard(dir);
  dir.save(rec);
  CreateOptions co;
  co.id = o.id;
  co.bundle = bundle;
  cgroup = create_container_cgroup(std::move(cgroup_to_make), spec, co);
  rec.cgroup = cgroup ? cgroup->to_json() : nlohmann::json();
  dir.save(rec);
  if (cgroup) {
    guard.set_cgroup(cgroup.get());
    cgroup->apply(with_default_device_rules(spec.linux.resources, spec));
    // By default CRIU leaves cgroups alone: the restored tasks are forked by CRIU, which runs
    // in the container's cgroup. An explicit mode maps the dumped cgroups under this one.
    if (o.common.manage_cgroups_mode.empty())
      opts.manage_cgroups_mode = linux::criu::CgroupMode::ignore;
    else
      opts.cg_root.emplace_back("", cgroup->path());
  }

  opts.images_dir_fd = image_fd.get();
  opts.work_dir_fd = work_fd ? work_fd.get() : -1;
  opts.log_file = "restore.log";
  opts.root = rec.rootfs;
  opts.rst_sibling = true;
  opts.auto_dedup = o.auto_dedup;
  // The terminal: the dumped slave's master was outside the container; CRIU makes a new pty
  // pair and sends the master with the "orphan-pts-master" notification (notifications on).
  opts.orphan_pts_master = true;
  opts.notify_scripts = terminal;
  UniqueFd master;
  bool got_master = false;
  auto on_notify = [&](const std::string& script, UniqueFd fd) {
    if (script != "orphan-pts-master") return;
    if (!fd) fail("restore: CRIU's orphan-pts-master notification came without the pty master");
    got_master = true;
    if (console)
      linux::send_fd(console.get(), fd.get(), linux::pty_name(fd.get()));
    else
      master = std::move(fd);
  };
  if (!o.detach && !o.no_subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  log::debug(fmt::format("restore {}: CRIU restores {} into {}", o.id, image, rec.rootfs));
  pid_t pid = -1;
  {
    linux::criu::Swrk swrk({criu, keep, rec.rootfs});
    // CRIU forks the restored tasks, which start in its cgroup: the container's.
    if (cgroup) cgroup->add_process(swrk.pid());
    auto resp = swrk.call(linux::criu::ReqType::restore, opts, on_notify);
    if (resp.restore_pid) {
      pid = *resp.restore_pid;
      guard.set_pid(pid);
    }
    if (!resp.success || pid <= 0) {
      std::string log = (o.common.work_path.empty() ? image : o.common.work_path) + "/restore.log";
      std::string why = linux::criu::last_log_error(log);
      if (why.empty()) why = resp.cr_errmsg;
      fail("restore of container \"{}\" failed: {} (CRIU's log: {})", o.id,
           why.empty() ? "CRIU reported no reason" : why, log);
    }
  }
  if (terminal && !got_master)
    fail(
        "restore of container \"{}\": process.terminal is true but the checkpoint has no "
        "terminal (CRIU sent no pty master)",
        o.id);
  console.reset();  // the receiver holds the master now
  auto st = read_proc_stat(pid);
  if (!st) fail("restore of container \"{}\": the restored process {} is gone", o.id, pid);
  rec.pid = pid;
  rec.pid_start_time = st->start_time;
  rec.started = true;
  dir.save(rec);
  if (!o.pid_file.empty()) write_file_atomic(absolute_path(o.pid_file), std::to_string(pid), 0644);
  guard.dismiss();
  log::debug(fmt::format("restore {}: running as pid {}", o.id, pid));
  if (o.detach) return 0;

  // Foreground: signals go to the container's init until it exits; other commands may act on
  // the container meanwhile (the lock is released).
  { ContainerDir release = std::move(dir); }
  sigset_t all, old;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &old);
  // Without --console-socket the runtime proxies the restored terminal itself, as `run` does.
  sigset_t forward = all;
  if (master) sigdelset(&forward, SIGWINCH);  // the terminal proxy handles it
  int sfd = ::signalfd(-1, &forward, SFD_CLOEXEC);
  UniqueFd sigfd(sfd);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  std::thread proxy;
  if (master) {
    proxy = std::thread([m = master.get(), s = stop.get()] {
      try {
        linux::proxy_terminal(m, s);
      } catch (const std::exception& e) {
        log::warn(e.what());
      }
    });
  }
  int code = -1;
  while (code < 0) {
    int status = 0;
    pid_t p = ::waitpid(pid, &status, WNOHANG);
    if (p == pid) {
      code = exit_code(status);
      break;
    }
    if (p < 0 && errno != EINTR) break;
    struct signalfd_siginfo si;
    if (sfd < 0 || retry_eintr([&] { return ::read(sfd, &si, sizeof si); }) != sizeof si) {
      retry_eintr([&] { return ::waitpid(pid, &status, 0); });
      code = exit_code(status);
      break;
    }
    if (si.ssi_signo != SIGCHLD) ::kill(pid, static_cast<int>(si.ssi_signo));
  }
  if (proxy.joinable()) {
    // Let the proxy drain what the container wrote before it exited.
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(stop.get(), &one, sizeof one);
    proxy.join();
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  try {
    ContainerDir d = store_.open(o.id);
    destroy_locked(d, d.load());
  } catch (const std::exception& e) {
    log::warn(std::string("restore: remove the container after it exited: ") + e.what());
  }
  return code < 0 ? 1 : code;
}

}  // namespace vessel::runtime
