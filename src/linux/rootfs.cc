#include "linux/rootfs.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "linux/mount_table.h"
#include "linux/mounts.h"
#include "linux/path.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {

bool is_root_overlay(const oci::Mount& m) {
  return m.type == "overlay" && (m.destination == "/" || m.destination.empty());
}

UniqueFd prepare_root(const std::string& rootfs, const std::string& propagation,
                      bool own_mount_namespace, const oci::Mount* root_overlay) {
  if (own_mount_namespace) {
    unsigned long prop = MS_SLAVE | MS_REC;
    if (!propagation.empty()) {
      MountFlags mf = parse_mount_options({propagation});
      prop = mf.propagation;
    }
    if (::mount("", "/", nullptr, prop, nullptr) < 0)
      fail_errno("linux.rootfsPropagation: set propagation of / to {}",
                 propagation.empty() ? "rslave" : propagation);
    make_rootfs_parent_private(rootfs);
  }
  if (root_overlay) {
    if (!own_mount_namespace)
      fail("mounts: an overlay on \"/\" needs a mount namespace of the container's own");
    MountFlags mf = parse_mount_options(root_overlay->options);
    std::string source = root_overlay->source.empty() ? "overlay" : root_overlay->source;
    if (::mount(source.c_str(), rootfs.c_str(), "overlay", mf.flags, mf.data.c_str()) < 0)
      fail_errno("mounts: overlay on \"/\" ({}) at {}", mf.data, rootfs);
    return open_or_throw(rootfs, O_PATH | O_DIRECTORY);
  }
  // Without a mount namespace of its own this is the host's mount table: nothing but the bind
  // is changed there, and the bind (which delete detaches) is private, so the container's
  // mounts on it do not propagate to the peers of the mount the rootfs is on.
  if (::mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
    fail_errno("root.path: bind {} onto itself", rootfs);
  if (!own_mount_namespace && ::mount("", rootfs.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
    fail_errno("root.path: make the bind of {} private", rootfs);
  return open_or_throw(rootfs, O_PATH | O_DIRECTORY);
}

namespace {

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {
    {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

void make_device(int rootfd, const oci::Device& d, bool user_namespace) {
  std::string parent = d.path.substr(0, d.path.rfind('/'));
  UniqueFd dir = open_in_root(rootfd, parent.empty() ? "/" : parent, Create::dir);
  std::string name = d.path.substr(d.path.rfind('/') + 1);
  std::string dpath = fd_path(dir.get());
  std::string node = dpath + "/" + name;
  mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
  mode_t perm = d.file_mode ? (*d.file_mode & 07777) : 0666;
  dev_t dev = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
  ::unlinkat(dir.get(), name.c_str(), 0);
  if (!user_namespace && ::mknodat(dir.get(), name.c_str(), type | perm, dev) == 0) {
    // mknod applies the umask; set the mode the spec asked for exactly.
    if (::fchmodat(dir.get(), name.c_str(), perm, 0) < 0) fail_errno("chmod {}", d.path);
    if (::fchownat(dir.get(), name.c_str(), d.uid.value_or(0), d.gid.value_or(0),
                   AT_SYMLINK_NOFOLLOW) < 0)
      fail_errno("chown {}", d.path);
    return;
  }
  if (!user_namespace && errno != EPERM) fail_errno("mknod {}", d.path);
  // Without the right to mknod, show the host's node through a bind mount.
  int fd = ::openat(dir.get(), name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail_errno("create {}", d.path);
  ::close(fd);
  UniqueFd target = open_in_root(rootfd, d.path, Create::none);
  if (::mount(d.path.c_str(), fd_path(target.get()).c_str(), nullptr, MS_BIND, nullptr) < 0)
    fail_errno("bind the host's {}", d.path);
}

}  // namespace

void create_devices(int rootfd, const std::vector<oci::Device>& devices, bool default_devices,
                    bool user_namespace) {
  mode_t old = ::umask(0);
  try {
    if (default_devices) {
      for (const auto& dd : kDefaultDevices) {
        oci::Device d;
        d.path = dd.path;
        d.type = 'c';
        d.major = dd.major;
        d.minor = dd.minor;
        d.file_mode = 0666;
        make_device(rootfd, d, user_namespace);
      }
      UniqueFd dev = open_in_root(rootfd, "/dev", Create::dir);
      const std::pair<const char*, const char*> links[] = {
          {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
          {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
          {"ptmx", "pts/ptmx"},
      };
      for (const auto& [name, target] : links) {
        if (::symlinkat(target, dev.get(), name) < 0 && errno != EEXIST)
          fail_errno("symlink /dev/{} -> {}", name, target);
      }
      if (::access("/proc/kcore", F_OK) == 0) ::symlinkat("/proc/kcore", dev.get(), "core");
    }
    for (size_t i = 0; i < devices.size(); ++i) {
      try {
        make_device(rootfd, devices[i], user_namespace);
      } catch (const Error& e) {
        fail("linux.devices[{}]: {}", i, e.what());
      }
    }
  } catch (...) {
    ::umask(old);
    throw;
  }
  ::umask(old);
}

void enter_root(const std::string& rootfs, bool no_pivot, bool own_mount_namespace) {
  if (!own_mount_namespace) {
    // The runtime's mount namespace, shared: no mount may move, so the root is a chroot.
    if (::chdir(rootfs.c_str()) < 0) fail_errno("chdir {}", rootfs);
    if (::chroot(".") < 0) fail_errno("chroot {}", rootfs);
    if (::chdir("/") < 0) fail_errno("chdir /");
    return;
  }
  if (no_pivot) {
    hide_procfs_and_sysfs_outside(rootfs);
    if (::chdir(rootfs.c_str()) < 0) fail_errno("chdir {}", rootfs);
    if (::mount(rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) < 0)
      fail_errno("move {} to /", rootfs);
    if (::chroot(".") < 0) fail_errno("chroot {}", rootfs);
    if (::chdir("/") < 0) fail_errno("chdir /");
    return;
  }
  UniqueFd old_root = open_or_throw("/", O_DIRECTORY | O_RDONLY);
  UniqueFd new_root = open_or_throw(rootfs, O_DIRECTORY | O_RDONLY);
  if (::fchdir(new_root.get()) < 0) fail_errno("chdir {}", rootfs);
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it then leaves
  // only the new root, with no directory needed inside the container to park the old one.
  if (::syscall(SYS_pivot_root, ".", ".") < 0) fail_errno("pivot_root {}", rootfs);
  if (::fchdir(old_root.get()) < 0) fail_errno("chdir to the old root");
  if (::mount("", ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
    fail_errno("make the old root a slave mount");
  if (::umount2(".", MNT_DETACH) < 0) fail_errno("detach the old root");
  if (::chdir("/") < 0) fail_errno("chdir /");
}

namespace {

// The container's /dev/null, proven to be the null device (character device 1:3) before it is
// bound anywhere: the rootfs is untrusted, and a /dev/null that is a symlink to, or a bind of,
// another file would put that file over the masked paths (CVE-2025-31133).
UniqueFd open_verified_null() {
  int fd = ::open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail_errno("open the container's /dev/null to mask paths with");
  UniqueFd null(fd);
  struct stat st;
  if (::fstat(null.get(), &st) < 0) fail_errno("stat the container's /dev/null");
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    fail(
        "the container's /dev/null is not the null device (character device 1:3); refusing to "
        "mask paths with it");
  return null;
}

}  // namespace

void mask_paths(const std::vector<std::string>& paths) {
  UniqueFd null;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& p = paths[i];
    struct stat st;
    if (::stat(p.c_str(), &st) < 0) {
      if (errno == ENOENT) continue;
      fail_errno("linux.maskedPaths[{}]: stat {}", i, p);
    }
    int r = -1;
    if (S_ISDIR(st.st_mode)) {
      r = ::mount("tmpfs", p.c_str(), "tmpfs", MS_RDONLY, "size=0k,mode=755");
    } else {
      try {
        if (!null) null = open_verified_null();
      } catch (const Error& e) {
        fail("linux.maskedPaths[{}]: {}", i, e.what());
      }
      r = ::mount(fd_path(null.get()).c_str(), p.c_str(), nullptr, MS_BIND, nullptr);
    }
    if (r < 0) fail_errno("linux.maskedPaths[{}]: cover {}", i, p);
  }
}

void make_readonly_paths(const std::vector<std::string>& paths) {
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& p = paths[i];
    if (::mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
      if (errno == ENOENT) continue;
      fail_errno("linux.readonlyPaths[{}]: bind {}", i, p);
    }
    try {
      remount(p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    } catch (const Error& e) {
      fail("linux.readonlyPaths[{}]: {}", i, e.what());
    }
  }
}

void make_root_readonly() {
  try {
    remount("/", MS_RDONLY);
  } catch (const Error& e) {
    fail("root.readonly: {}", e.what());
  }
}

void validate_sysctls(const oci::Spec& spec) {
  auto own = [&](oci::NamespaceType t) {
    const oci::Namespace* ns = spec.find_namespace(t);
    return ns != nullptr;
  };
  for (const auto& [key, value] : spec.linux.sysctl) {
    std::string where = "linux.sysctl." + key;
    if (key.find("..") != std::string::npos || key.find('/') != std::string::npos)
      fail("{}: not a valid sysctl name", where);
    bool ipc_key = key.rfind("fs.mqueue.", 0) == 0 || key == "kernel.msgmax" ||
                   key == "kernel.msgmnb" || key == "kernel.msgmni" || key == "kernel.sem" ||
                   key == "kernel.shmall" || key == "kernel.shmmax" || key == "kernel.shmmni" ||
                   key == "kernel.shm_rmid_forced";
    if (ipc_key) {
      if (!own(oci::NamespaceType::ipc)) fail("{}: needs the container's own ipc namespace", where);
    } else if (key.rfind("net.", 0) == 0) {
      if (!own(oci::NamespaceType::network))
        fail("{}: needs the container's own network namespace", where);
    } else if (key == "kernel.hostname" || key == "kernel.domainname") {
      if (!own(oci::NamespaceType::uts)) fail("{}: needs the container's own uts namespace", where);
    } else {
      fail("{}: not a namespaced sysctl; setting it would change the host", where);
    }
  }
}

UniqueFd open_procfs_root() {
  // A symlink in the rootfs is followed inside it (the proc mount followed it too); what it
  // leads to is then checked.
  UniqueFd root = open_or_throw("/", O_PATH | O_DIRECTORY);
  UniqueFd proc = open_in_root(root.get(), "/proc", Create::none);
  struct statfs sfs;
  struct stat st;
  if (::fstatfs(proc.get(), &sfs) < 0 || ::fstat(proc.get(), &st) < 0) fail_errno("stat /proc");
  // PROC_ROOT_INO: the root directory of a procfs instance, not a directory inside one.
  if (sfs.f_type != PROC_SUPER_MAGIC || st.st_ino != 1)
    fail("/proc is not the root of a procfs mount");
  return proc;
}

UniqueFd open_in_procfs(int procfd, const std::string& rel, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  // No mount crossed (a bind over a procfs file stays out), no symlinks, nothing above /proc.
  how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
  long fd = ::syscall(SYS_openat2, procfd, rel.c_str(), &how, sizeof how);
  if (fd < 0 && errno == ENOSYS) fd = ::openat(procfd, rel.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == EXDEV)
      fail("/proc/{}: something is mounted over it; refusing to write through it", rel);
    fail_errno("open /proc/{}", rel);
  }
  UniqueFd out(static_cast<int>(fd));
  struct statfs sfs;
  if (::fstatfs(out.get(), &sfs) < 0) fail_errno("stat /proc/{}", rel);
  if (sfs.f_type != PROC_SUPER_MAGIC) fail("/proc/{} is not on procfs", rel);
  return out;
}

void apply_sysctls(const std::map<std::string, std::string>& sysctl) {
  if (sysctl.empty()) return;
  // Through the container's procfs, verified, and without following anything that could send
  // the write to another file (CVE-2025-52881).
  UniqueFd proc;
  for (const auto& [key, value] : sysctl) {
    std::string rel = "sys/" + key;
    for (size_t i = 4; i < rel.size(); ++i)
      if (rel[i] == '.') rel[i] = '/';
    try {
      if (!proc) proc = open_procfs_root();
      UniqueFd f = open_in_procfs(proc.get(), rel, O_WRONLY | O_TRUNC);
      write_all(f.get(), value.data(), value.size());
    } catch (const Error& e) {
      fail("linux.sysctl.{}: {}", key, e.what());
    }
  }
}

}  // namespace vessel::linux
