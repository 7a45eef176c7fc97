#include "linux/idmap.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "util/error.h"
#include "util/file.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

namespace vessel::linux {
namespace {

// A child parked in a new user namespace; killed and reaped when this goes away, so no
// process outlives make_userns_fd() whatever happens there.
class UsernsHolder {
 public:
  UsernsHolder() = default;
  UsernsHolder(const UsernsHolder&) = delete;
  UsernsHolder& operator=(const UsernsHolder&) = delete;
  ~UsernsHolder() {
    hold_.reset();  // the child reads EOF and exits; SIGKILL makes sure of it
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      retry_eintr([&] { return ::waitpid(pid_, nullptr, 0); });
    }
  }

  // Returns the child's pid as the mounted /proc names it (this process may be in a pid
  // namespace that /proc does not belong to).
  std::string start(const std::string& where) {
    int ready[2], hold[2];
    if (::pipe2(ready, O_CLOEXEC) < 0) fail_errno("{}: pipe", where);
    UniqueFd ready_r(ready[0]), ready_w(ready[1]);
    if (::pipe2(hold, O_CLOEXEC) < 0) fail_errno("{}: pipe", where);
    UniqueFd hold_r(hold[0]);
    hold_.reset(hold[1]);
    pid_ = ::fork();
    if (pid_ < 0) fail_errno("{}: fork a process for the mount's user namespace", where);
    if (pid_ == 0) child(ready_w.get(), hold_r.get());
    ready_w.reset();
    hold_r.reset();
    Report r = {};
    ssize_t n = retry_eintr([&] { return ::read(ready_r.get(), &r, sizeof r); });
    if (n != static_cast<ssize_t>(sizeof r))
      fail("{}: the process for the mount's user namespace died", where);
    if (r.err != 0) {
      errno = r.err;
      fail_errno("{}: create a user namespace for the mount's id mappings", where);
    }
    r.pid[sizeof r.pid - 1] = '\0';
    return r.pid;
  }

 private:
  struct Report {
    int err;
    char pid[32];
  };

  // Async-signal-safe calls only: this runs in the child of fork().
  [[noreturn]] static void child(int ready, int hold) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    Report r = {};
    if (::unshare(CLONE_NEWUSER) < 0) {
      r.err = errno;
    } else {
      ssize_t n = ::readlink("/proc/self", r.pid, sizeof r.pid - 1);
      if (n <= 0) r.err = n < 0 ? errno : EIO;
    }
    if (::write(ready, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) ::_exit(1);
    char c;
    while (::read(hold, &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }

  pid_t pid_ = -1;
  UniqueFd hold_;
};

std::string format_mappings(const std::vector<oci::IdMapping>& maps) {
  std::string out;
  for (const auto& m : maps) out += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
  return out;
}

std::string fs_name(int fd) {
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) < 0) return "unknown";
  switch (static_cast<unsigned long>(sfs.f_type)) {
    case TMPFS_MAGIC:
      return "tmpfs";
    case EXT4_SUPER_MAGIC:
      return "ext4";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlay";
    case PROC_SUPER_MAGIC:
      return "proc";
    case SYSFS_MAGIC:
      return "sysfs";
    case NFS_SUPER_MAGIC:
      return "nfs";
    default:
      return fmt::format("type {:#x}", static_cast<unsigned long>(sfs.f_type));
  }
}

}  // namespace

UniqueFd make_userns_fd(const std::vector<oci::IdMapping>& uids,
                        const std::vector<oci::IdMapping>& gids, const std::string& where) {
  if (uids.empty() || gids.empty())
    fail("{}: an idmapped mount needs both uid and gid mappings", where);
  UsernsHolder holder;
  std::string base = "/proc/" + holder.start(where);
  try {
    // Written by this (privileged) process, which needs no "deny" in setgroups for gid_map.
    write_file(base + "/uid_map", format_mappings(uids));
    write_file(base + "/gid_map", format_mappings(gids));
  } catch (const Error& e) {
    fail("{}.uidMappings/gidMappings: {}", where, e.what());
  }
  UniqueFd ns(::open((base + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) fail_errno("{}: open the mount's user namespace {}/ns/user", where, base);
  // The namespace must be the child's new one, not one this process is in.
  struct stat mine, theirs;
  if (::stat("/proc/self/ns/user", &mine) < 0 || ::fstat(ns.get(), &theirs) < 0)
    fail_errno("{}: stat the mount's user namespace", where);
  if (mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev)
    fail("{}: {}/ns/user is not a new user namespace", where, base);
  return ns;
}

UniqueFd clone_mount_tree(const std::string& source, bool recursive) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  return UniqueFd(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, source.c_str(), flags)));
}

UniqueFd open_idmapped_tree(const std::string& source, bool clone_recursive, bool idmap_recursive,
                            int userns_fd, const std::string& where) {
  UniqueFd tree = clone_mount_tree(source, clone_recursive);
  if (!tree) {
    if (errno == ENOSYS) fail("{}: idmapped mounts need Linux 5.12 or later (no open_tree)", where);
    fail_errno("{}: clone the mount at {}", where, source);
  }
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  unsigned at = AT_EMPTY_PATH | (idmap_recursive ? AT_RECURSIVE : 0);
  if (::syscall(SYS_mount_setattr, tree.get(), "", at, &attr, sizeof attr) < 0) {
    int err = errno;
    if (err == ENOSYS) fail("{}: idmapped mounts need Linux 5.12 or later", where);
    if (err == EINVAL)
      fail("{}: the filesystem of {} ({}) does not support idmapped mounts on this kernel", where,
           source, fs_name(tree.get()));
    errno = err;
    if (err == EPERM)
      fail_errno("{}: idmap {} (is it already idmapped, or owned by another user namespace?)",
                 where, source);
    fail_errno("{}: idmap {}", where, source);
  }
  return tree;
}

void move_mount_onto(int tree, int target_fd, const std::string& where,
                     const std::string& destination) {
  if (::syscall(SYS_move_mount, tree, "", target_fd, "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    fail_errno("{}: attach the mount tree on {}", where, destination);
}

}  // namespace vessel::linux
