#include "manager/rootfs_rootless.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "util/error.h"
#include "util/file.h"
#include "util/subprocess.h"

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

void mount_fuse_overlayfs(const std::string& lowerdir, const std::string& upper,
                          const std::string& work, const std::string& target) {
  std::string prog = find_program("fuse-overlayfs");
  if (prog.empty()) fail("fuse-overlayfs is not installed (Debian's fuse-overlayfs package)");
  std::string opts = "lowerdir=" + lowerdir + ",upperdir=" + upper + ",workdir=" + work;
  // The container's other ids are subordinate ids on the host: FUSE serves them only with
  // allow_other, which fusermount3 grants a user only where /etc/fuse.conf says so. (The
  // mount point is in the user's 0700 container directory: no other user reaches it.)
  if (::geteuid() != 0 && fuse_allows_other()) opts += ",allow_other";
  // It daemonizes once the mount is made; its exit status says whether it was.
  auto r = run_subprocess(prog, {prog, "-o", opts, target}, {}, "", 30000);
  if (r.status != 0)
    fail("fuse-overlayfs on {}: {}", target,
         r.err.empty() ? "exit " + std::to_string(r.status) : r.err.substr(0, r.err.find('\n')));
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
