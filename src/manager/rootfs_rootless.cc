#include "manager/rootfs_rootless.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "linux/terminal.h"
#include "manager/rootless.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/subprocess.h"

extern char** environ;

namespace vessel::manager {

namespace {

bool write_proc(const char* path, const std::string& text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// The first of fuse-overlayfs' and fusermount's places that exists.
std::string find_program(const char* name) {
  for (const char* d : {"/usr/bin/", "/bin/", "/usr/local/bin/"}) {
    std::string p = std::string(d) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

struct Helper {
  int status = 0;   // exit code, or 128+signal
  std::string err;  // its stdout and stderr
};

// Runs `argv` (argv[0] a path) with the caller's environment plus `extra_env`, `pass_fd` as
// its fd 3 (every other fd above 2 closed), stdin on /dev/null and its stdout and stderr
// captured until it exits (a daemon it leaves behind may keep them: they are read no
// further). With `userns`, it runs in a new user namespace given that mapping (newuidmap,
// newgidmap) before the exec: root there, with all of root's rights over the mapped ids.
Helper run_helper(const std::vector<std::string>& argv, const std::string& extra_env, int pass_fd,
                  const RootlessMappings* userns, int timeout_ms) {
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (char** e = environ; e && *e; ++e) envp.push_back(*e);
  if (!extra_env.empty()) envp.push_back(const_cast<char*>(extra_env.c_str()));
  envp.push_back(nullptr);
  int err[2], report[2], up[2], down[2];
  if (::pipe2(err, O_CLOEXEC) != 0) fail_errno("running {}: pipe", argv[0]);
  UniqueFd err_r(err[0]), err_w(err[1]);
  if (::pipe2(report, O_CLOEXEC) != 0) fail_errno("running {}: pipe", argv[0]);
  UniqueFd rep_r(report[0]), rep_w(report[1]);
  if (::pipe2(up, O_CLOEXEC) != 0) fail_errno("running {}: pipe", argv[0]);
  UniqueFd up_r(up[0]), up_w(up[1]);
  if (::pipe2(down, O_CLOEXEC) != 0) fail_errno("running {}: pipe", argv[0]);
  UniqueFd down_r(down[0]), down_w(down[1]);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("running {}: fork", argv[0]);
  if (pid == 0) {
    // Only async-signal-safe calls from here.
    int e = 0;
    char c = 0;
    if (userns && (::unshare(CLONE_NEWUSER) != 0 || ::write(up_w.get(), "u", 1) != 1 ||
                   ::read(down_r.get(), &c, 1) != 1 || c != 'm'))
      e = errno ? errno : EPERM;
    // Out of the way of 0..3 first, whatever numbers they have now.
    int keep = e ? -1 : ::fcntl(pass_fd, F_DUPFD_CLOEXEC, 10);
    int out = e ? -1 : ::fcntl(err_w.get(), F_DUPFD_CLOEXEC, 10);
    int null = e ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!e && (keep < 0 || out < 0 || null < 0 || ::dup2(null, 0) < 0 || ::dup2(out, 1) < 0 ||
               ::dup2(out, 2) < 0 || ::dup2(keep, 3) < 0))
      e = errno;
    if (!e) {
      ::syscall(SYS_close_range, 4U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
      ::execve(args[0], args.data(), envp.data());
      e = errno;
    }
    (void)!::write(rep_w.get(), &e, sizeof e);
    ::_exit(127);
  }
  err_w.reset();
  rep_w.reset();
  up_w.reset();
  down_r.reset();
  auto reap = [&] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  };
  if (userns) {
    SigpipeBlocked no_sigpipe;  // a child that died before its mapping fails the write
    char c = 0;
    bool mapped = ::read(up_r.get(), &c, 1) == 1 && map_with_helpers(pid, *userns);
    if (mapped) mapped = ::write(down_w.get(), "m", 1) == 1;
    down_w.reset();
    if (!mapped) {
      ::kill(pid, SIGKILL);
      reap();
      fail(
          "running {}: the user namespace with {}'s subordinate ids could not be set up "
          "(newuidmap)",
          argv[0], ::getuid());
    }
  }
  Helper h;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  bool exited = false;
  char buf[4096];
  while (true) {
    struct pollfd p = {err_r.get(), POLLIN, 0};
    int n = ::poll(&p, 1, 100);
    if (n > 0) {
      ssize_t got = ::read(err_r.get(), buf, sizeof buf);
      if (got > 0) {
        if (h.err.size() < 65536) h.err.append(buf, static_cast<size_t>(got));
        continue;
      }
      if (got == 0 || errno != EINTR) break;  // EOF
    }
    if (exited) break;  // drained what it left before exiting
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;  // one more pass picks up what is still in the pipe
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      reap();
      fail("running {}: no answer in {} s", argv[0], timeout_ms / 1000);
    }
  }
  if (!exited) status = reap();
  int exec_errno = 0;
  if (::read(rep_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno)
    fail("running {}: {}", argv[0], std::strerror(exec_errno));
  h.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return h;
}

// The first line of a helper's message, without fuse-overlayfs' notes about the mount options
// it adds for root, which mean nothing on a mount already made.
std::string first_error_line(const Helper& h) {
  size_t pos = 0;
  while (pos < h.err.size()) {
    size_t end = h.err.find('\n', pos);
    if (end == std::string::npos) end = h.err.size();
    std::string line = h.err.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.rfind("unknown argument ignored", 0) == 0) continue;
    for (const char* prefix : {"fuse-overlayfs: ", "fusermount3: "})
      if (line.rfind(prefix, 0) == 0) line.erase(0, std::strlen(prefix));
    return line;
  }
  return "it failed without a word (exit " + std::to_string(h.status) + ")";
}

// fuse-overlayfs' uidmapping=/gidmapping= value: "ID:PRESENTED:COUNT" triples, the id on disk
// (as the daemon in the store's user namespace sees it) first, then the one the kernel gives
// and takes (the host's): exactly the store's mapping, container id first.
std::string fuse_mapping(const std::vector<oci::IdMapping>& m) {
  std::string out;
  for (const auto& x : m)
    out += (out.empty() ? "" : ":") + std::to_string(x.container_id) + ":" +
           std::to_string(x.host_id) + ":" + std::to_string(x.size);
  return out;
}

// A failed mount's unmount: its own failure would hide the first.
void unmount_after_failure(const std::string& target) {
  try {
    unmount_fuse(target);
  } catch (const Error&) {
  }
}

// Mounts an empty FUSE file system on `target` through the setuid fusermount3, as libfuse
// does for a user: it sends the opened /dev/fuse back over a socket (_FUSE_COMMFD). Returns
// that fd; whoever serves it serves the mount.
UniqueFd fusermount(const std::string& target, const std::string& opts) {
  std::string prog = find_program("fusermount3");
  if (prog.empty()) fail("mounting {}: fusermount3 is not installed (package fuse3)", target);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    fail_errno("mounting {}: socketpair", target);
  UniqueFd ours(sv[0]), theirs(sv[1]);
  Helper h =
      run_helper({prog, "-o", opts, "--", target}, "_FUSE_COMMFD=3", theirs.get(), nullptr, 30000);
  theirs.reset();
  if (h.status != 0) fail("fusermount3 on {}: {}", target, first_error_line(h));
  try {
    return linux::recv_fd(ours.get());
  } catch (const Error& e) {
    unmount_after_failure(target);
    fail("fusermount3 on {}: {}", target, e.what());
  }
}

}  // namespace

int probe_userns_overlay(const std::string& base) {
  for (const char* sub : {"/lower", "/upper", "/work", "/merged"}) mkdir_p(base + sub, 0700);
  std::string opts =
      "lowerdir=" + base + "/lower,upperdir=" + base + "/upper,workdir=" + base + "/work,userxattr";
  std::string merged = base + "/merged";
  std::string uid_map = "0 " + std::to_string(::geteuid()) + " 1";
  std::string gid_map = "0 " + std::to_string(::getegid()) + " 1";
  pid_t pid = ::fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    // Only async-signal-safe calls from here: the child exits with 0 or the errno.
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) ::_exit(errno & 0xff);
    write_proc("/proc/self/setgroups", "deny");
    if (!write_proc("/proc/self/uid_map", uid_map) || !write_proc("/proc/self/gid_map", gid_map))
      ::_exit(EPERM);
    if (::mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) != 0) ::_exit(errno & 0xff);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status)) return EIO;
  // overlayfs leaves its work directory inside "work" (mode 0): make it removable.
  ::chmod((base + "/work/work").c_str(), 0700);
  return WEXITSTATUS(status);
}

std::string probe_fuse_overlayfs(const std::string& base) {
  if (find_program("fuse-overlayfs").empty()) return "fuse-overlayfs is not installed";
  if (::access("/dev/fuse", R_OK | W_OK) != 0) return "/dev/fuse is not usable by this user";
  for (const char* sub : {"/lower", "/upper", "/work", "/merged"}) mkdir_p(base + sub, 0700);
  try {
    mount_fuse_overlayfs(base + "/lower", base + "/upper", base + "/work", base + "/merged");
  } catch (const Error& e) {
    return e.what();
  }
  unmount_fuse(base + "/merged");
  return "";
}

nlohmann::json userns_overlay_mount(const std::string& lowerdir, const std::string& upper,
                                    const std::string& work) {
  return {{"destination", "/"},
          {"type", "overlay"},
          {"source", "overlay"},
          {"options", nlohmann::json::array({"lowerdir=" + lowerdir, "upperdir=" + upper,
                                             "workdir=" + work, "userxattr"})}};
}

bool fuse_allows_other(const std::string& fuse_conf) {
  std::string text;
  try {
    text = read_file(fuse_conf);
  } catch (const Error&) {
    return false;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t a = line.find_first_not_of(" \t");
    if (a == std::string::npos || line[a] == '#') continue;
    size_t b = line.find_last_not_of(" \t\r");
    if (line.substr(a, b - a + 1) == "user_allow_other") return true;
  }
  return false;
}

bool is_root_user(const std::string& user) {
  std::string u = user.substr(0, user.find(':'));
  return u.empty() || u == "0" || u == "root";
}

bool fuse_serves_user(const std::string& user, bool keep_id) {
  size_t colon = user.find(':');
  std::string group = colon == std::string::npos ? "" : user.substr(colon + 1);
  return !keep_id && is_root_user(user) && (group.empty() || group == "0" || group == "root");
}

void mount_fuse_overlayfs(const std::string& lowerdir, const std::string& upper,
                          const std::string& work, const std::string& target) {
  std::string prog = find_program("fuse-overlayfs");
  if (prog.empty()) fail("fuse-overlayfs is not installed (Debian's fuse-overlayfs package)");
  std::string opts = "lowerdir=" + lowerdir + ",upperdir=" + upper + ",workdir=" + work;
  if (::geteuid() == 0) {
    // It mounts, then daemonizes; its exit status says whether it mounted.
    auto r = run_subprocess(prog, {prog, "-o", opts, target}, {}, "", 30000);
    if (r.status != 0)
      fail("fuse-overlayfs on {}: {}", target, first_error_line({r.status, r.err}));
    return;
  }
  // As a user: the layers hold the image's ids as the store's user namespace maps them
  // (manager/store_userns.h), which the user on the host may neither read (mode 0600) nor
  // give. fusermount3 mounts on the host, and the daemon runs as root of a user namespace
  // with the store's mapping, translating between the ids on disk and the host's ids the
  // kernel sends (those of the callers) and takes. Always the store's mapping: a keep-id
  // container's other mapping is the runtime's business.
  RootlessMappings m = rootless_mappings();
  // The kernel checks each access against the modes and the owners the daemon reports. The
  // container's other ids are subordinate ids on the host: FUSE serves them only with
  // allow_other, which fusermount3 grants a user only where /etc/fuse.conf says so. (The
  // mount point is in the user's 0700 container directory: no other user reaches it.)
  std::string mount_opts =
      "default_permissions,noatime,fsname=fuse-overlayfs,subtype=fuse-overlayfs";
  if (fuse_allows_other()) mount_opts += ",allow_other";
  UniqueFd dev = fusermount(target, mount_opts);
  opts += ",uidmapping=" + fuse_mapping(m.uids) + ",gidmapping=" + fuse_mapping(m.gids);
  Helper h;
  try {
    // libfuse takes a mount point /dev/fd/N as the fd of a mount already made.
    h = run_helper({prog, "-o", opts, "/dev/fd/3"}, "", dev.get(), &m, 30000);
  } catch (const Error&) {
    unmount_after_failure(target);
    throw;
  }
  dev.reset();  // the daemon has its own
  if (h.status != 0) {
    unmount_after_failure(target);
    fail("fuse-overlayfs on {}: {}", target, first_error_line(h));
  }
}

void unmount_fuse(const std::string& target) {
  if (::geteuid() == 0) {
    ::umount2(target.c_str(), MNT_DETACH);
    return;
  }
  std::string prog = find_program("fusermount3");
  if (prog.empty()) prog = find_program("fusermount");
  if (prog.empty()) fail("unmounting {}: fusermount3 is not installed (package fuse3)", target);
  auto r = run_subprocess(prog, {prog, "-u", "-z", target}, {}, "", 30000);
  if (r.status != 0) fail("unmounting {}: {}", target, r.err.substr(0, r.err.find('\n')));
}

}  // namespace vessel::manager
