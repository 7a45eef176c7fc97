#include "linux/cgroup_mount.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <sstream>
#include <vector>

#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {
namespace {

struct Hierarchy {
  std::string mountpoint;  // host mount point, e.g. /sys/fs/cgroup/memory
  std::string fstype;      // cgroup or cgroup2
  std::string options;     // controller options, e.g. "memory" or "none,name=systemd"
};

std::vector<Hierarchy> host_hierarchies() {
  std::vector<Hierarchy> out;
  std::istringstream in(read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, devno, root, mountpoint, fstype, source, superopts;
    pre >> id >> parent >> devno >> root >> mountpoint;
    post >> fstype >> source >> superopts;
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    if (mountpoint.rfind("/sys/fs/cgroup/", 0) != 0) continue;
    std::string controllers;
    std::istringstream opts(superopts);
    std::string o;
    while (std::getline(opts, o, ',')) {
      if (o == "rw" || o == "ro" || o.rfind("release_agent", 0) == 0 || o == "clone_children" ||
          o == "nsdelegate" || o == "memory_recursiveprot" || o == "noprefix" || o == "xattr" ||
          o == "cpuset_v2_mode" || o == "favordynmods")
        continue;
      controllers += (controllers.empty() ? "" : ",") + o;
    }
    if (fstype == "cgroup" && controllers.rfind("name=", 0) == 0)
      controllers = "none," + controllers;
    out.push_back({mountpoint, fstype, controllers});
  }
  return out;
}

// The calling process's cgroup path in the hierarchy with these controller options.
std::string own_cgroup(const Hierarchy& h) {
  std::istringstream in(read_file("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string wanted = h.options;
    if (wanted.rfind("none,", 0) == 0) wanted = wanted.substr(5);
    if ((h.fstype == "cgroup2" && ctrls.empty()) || (h.fstype == "cgroup" && ctrls == wanted))
      return line.substr(b + 1);
  }
  return "/";
}

// The path behind a /proc/self/fd/N link (the rootfs has no other processes yet, so the
// path cannot be swapped underneath us).
std::string resolved(const std::string& fd_link, const std::string& where) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(fd_link.c_str(), buf, sizeof buf - 1);
  if (n < 0) fail_errno("{}: readlink {}", where, fd_link);
  buf[n] = '\0';
  return buf;
}

}  // namespace

void mount_cgroup_tree(const std::string& target, unsigned long flags, bool cgroup_namespace,
                       const std::string& where) {
  struct statfs sfs;
  if (::statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC) {
    // In a user namespace the kernel may refuse a fresh cgroup2 mount (EPERM; EBUSY for a
    // rootless container left in a cgroup it does not own): like runc, bind the container's
    // own view of the tree instead (what /proc/self/cgroup names, "/" in its cgroup namespace).
    bool mounted = false;
    if (cgroup_namespace) {
      mounted = ::mount("cgroup2", target.c_str(), "cgroup2", flags, nullptr) == 0;
      if (!mounted && errno != EPERM && errno != EBUSY) fail_errno("{}: mount cgroup2", where);
    }
    if (!mounted) {
      std::string src = "/sys/fs/cgroup" + own_cgroup({"/sys/fs/cgroup", "cgroup2", ""});
      // The fd path names the directory under the new mount: remount through its real path.
      std::string dir = resolved(target, where);
      if (::mount(src.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
        fail_errno("{}: bind {}", where, src);
      unsigned long keep = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
      if (keep && ::mount("", dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | keep, nullptr) < 0)
        fail_errno("{}: remount {}", where, dir);
    }
    return;
  }
  // v1 or hybrid: a tmpfs with one directory per hierarchy.
  unsigned long tmpfs_flags = flags & ~MS_RDONLY;
  if (::mount("tmpfs", target.c_str(), "tmpfs", tmpfs_flags, "mode=755") < 0)
    fail_errno("{}: mount tmpfs for the cgroup hierarchies", where);
  // The fd path now shows the new tmpfs only after reopening it.
  std::string dir = resolved(target, where);
  for (const Hierarchy& h : host_hierarchies()) {
    std::string name = h.mountpoint.substr(h.mountpoint.rfind('/') + 1);
    std::string sub = dir + "/" + name;
    if (::mkdir(sub.c_str(), 0755) < 0 && errno != EEXIST) fail_errno("{}: mkdir {}", where, sub);
    unsigned long f = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME);
    if (cgroup_namespace) {
      const char* data = h.fstype == "cgroup" ? h.options.c_str() : nullptr;
      if (::mount("cgroup", sub.c_str(), h.fstype.c_str(), f, data) < 0)
        fail_errno("{}: mount {} ({}) at {}", where, h.fstype, h.options, sub);
    } else {
      std::string src = h.mountpoint + own_cgroup(h);
      if (::mount(src.c_str(), sub.c_str(), nullptr, MS_BIND, nullptr) < 0)
        fail_errno("{}: bind {}", where, src);
      if (f && ::mount("", sub.c_str(), nullptr, MS_REMOUNT | MS_BIND | f, nullptr) < 0)
        fail_errno("{}: remount {}", where, sub);
    }
  }
  if ((flags & MS_RDONLY) &&
      ::mount("", dir.c_str(), nullptr, MS_REMOUNT | tmpfs_flags | MS_RDONLY, "mode=755") < 0)
    fail_errno("{}: remount the cgroup tmpfs read-only", where);
}

}  // namespace vessel::linux
