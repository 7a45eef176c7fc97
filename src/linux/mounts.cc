#include "linux/mounts.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>

#include "linux/cgroup_mount.h"
#include "linux/idmap.h"
#include "linux/lsm.h"
#include "linux/path.h"
#include "util/error.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

namespace vessel::linux {
namespace {

struct FlagOption {
  bool clear;
  unsigned long flag;
};

const std::map<std::string, FlagOption>& flag_options() {
  static const std::map<std::string, FlagOption> m = {
      {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},
      {"nosuid", {false, MS_NOSUID}},
      {"suid", {true, MS_NOSUID}},
      {"nodev", {false, MS_NODEV}},
      {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},
      {"exec", {true, MS_NOEXEC}},
      {"sync", {false, MS_SYNCHRONOUS}},
      {"async", {true, MS_SYNCHRONOUS}},
      {"dirsync", {false, MS_DIRSYNC}},
      {"remount", {false, MS_REMOUNT}},
      {"mand", {false, MS_MANDLOCK}},
      {"nomand", {true, MS_MANDLOCK}},
      {"atime", {true, MS_NOATIME}},
      {"noatime", {false, MS_NOATIME}},
      {"diratime", {true, MS_NODIRATIME}},
      {"nodiratime", {false, MS_NODIRATIME}},
      {"relatime", {false, MS_RELATIME}},
      {"norelatime", {true, MS_RELATIME}},
      {"strictatime", {false, MS_STRICTATIME}},
      {"nostrictatime", {true, MS_STRICTATIME}},
      {"lazytime", {false, MS_LAZYTIME}},
      {"nolazytime", {true, MS_LAZYTIME}},
      {"silent", {false, MS_SILENT}},
      {"loud", {true, MS_SILENT}},
      {"nosymfollow", {false, MS_NOSYMFOLLOW}},
  };
  return m;
}

const std::map<std::string, unsigned long>& propagation_options() {
  static const std::map<std::string, unsigned long> m = {
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  return m;
}

struct AttrOption {
  bool clear;
  uint64_t attr;
};

const std::map<std::string, AttrOption>& recursive_options() {
  static const std::map<std::string, AttrOption> m = {
      {"rro", {false, MOUNT_ATTR_RDONLY}},
      {"rrw", {true, MOUNT_ATTR_RDONLY}},
      {"rnosuid", {false, MOUNT_ATTR_NOSUID}},
      {"rsuid", {true, MOUNT_ATTR_NOSUID}},
      {"rnodev", {false, MOUNT_ATTR_NODEV}},
      {"rdev", {true, MOUNT_ATTR_NODEV}},
      {"rnoexec", {false, MOUNT_ATTR_NOEXEC}},
      {"rexec", {true, MOUNT_ATTR_NOEXEC}},
      {"rnodiratime", {false, MOUNT_ATTR_NODIRATIME}},
      {"rdiratime", {true, MOUNT_ATTR_NODIRATIME}},
      {"rnoatime", {false, MOUNT_ATTR_NOATIME}},
      {"ratime", {true, MOUNT_ATTR__ATIME}},
      {"rrelatime", {false, MOUNT_ATTR_RELATIME}},
      {"rnorelatime", {true, MOUNT_ATTR__ATIME}},
      {"rstrictatime", {false, MOUNT_ATTR_STRICTATIME}},
      {"rnostrictatime", {true, MOUNT_ATTR__ATIME}},
      {"rnosymfollow", {false, MOUNT_ATTR_NOSYMFOLLOW}},
      {"rsymfollow", {true, MOUNT_ATTR_NOSYMFOLLOW}},
  };
  return m;
}

int mount_setattr(int dfd, const char* path, unsigned flags, struct mount_attr* attr) {
  return static_cast<int>(::syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof *attr));
}

// Flags from statvfs that a remount must repeat so it does not try to clear locked ones.
unsigned long current_mount_flags(const std::string& target) {
  struct statvfs sv;
  if (::statvfs(target.c_str(), &sv) < 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

void copy_attrs(int fd, const char* name, const struct stat& st, bool symlink,
                const std::string& at) {
  if (::fchownat(fd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
    fail_errno("tmpcopyup: chown {}", at);
  if (!symlink && ::fchmodat(fd, name, st.st_mode & 07777, 0) < 0)
    fail_errno("tmpcopyup: chmod {}", at);
}

// Copies the tree under directory `from` into directory `to` (both fds stay open), keeping
// owners, modes, symlinks and device nodes, as runc's tmpcopyup does.
void copy_tree(int from, int to, const std::string& at) {
  int dup = ::fcntl(from, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) fail_errno("tmpcopyup: dup {}", at);
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    ::close(dup);
    fail_errno("tmpcopyup: read {}", at);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> guard(dir, ::closedir);
  while (struct dirent* e = ::readdir(dir)) {
    const char* name = e->d_name;
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
    std::string path = at + "/" + name;
    struct stat st;
    if (::fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0) fail_errno("tmpcopyup: stat {}", path);
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(to, name, 0700) < 0) fail_errno("tmpcopyup: mkdir {}", path);
      UniqueFd src(::openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd dst(::openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!src || !dst) fail_errno("tmpcopyup: open {}", path);
      copy_tree(src.get(), dst.get(), path);
      copy_attrs(to, name, st, false, path);
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd src(::openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!src) fail_errno("tmpcopyup: open {}", path);
      UniqueFd dst(::openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!dst) fail_errno("tmpcopyup: create {}", path);
      char buf[65536];
      for (;;) {
        ssize_t n = ::read(src.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno("tmpcopyup: read {}", path);
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
          ssize_t w = ::write(dst.get(), buf + off, static_cast<size_t>(n - off));
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) fail_errno("tmpcopyup: write {}", path);
          off += w;
        }
      }
      copy_attrs(to, name, st, false, path);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(from, name, target.data(), target.size());
      if (n < 0) fail_errno("tmpcopyup: readlink {}", path);
      target.resize(static_cast<size_t>(n));
      if (::symlinkat(target.c_str(), to, name) < 0) fail_errno("tmpcopyup: symlink {}", path);
      copy_attrs(to, name, st, true, path);
    } else {
      if (::mknodat(to, name, st.st_mode, st.st_rdev) < 0) fail_errno("tmpcopyup: mknod {}", path);
      copy_attrs(to, name, st, false, path);
    }
  }
}

}  // namespace

MountFlags parse_mount_options(const std::vector<std::string>& options) {
  MountFlags out;
  for (const auto& o : options) {
    if (o == "bind") {
      out.bind = true;
    } else if (o == "rbind") {
      out.bind = out.recursive_bind = true;
    } else if (auto f = flag_options().find(o); f != flag_options().end()) {
      if (f->second.clear)
        out.flags &= ~f->second.flag;
      else
        out.flags |= f->second.flag;
    } else if (auto p = propagation_options().find(o); p != propagation_options().end()) {
      out.propagation |= p->second;
    } else if (auto r = recursive_options().find(o); r != recursive_options().end()) {
      if (r->second.clear)
        out.attr_clr |= r->second.attr;
      else
        out.attr_set |= r->second.attr;
    } else if (o == "idmap") {
      out.idmap = true;
    } else if (o == "ridmap") {
      out.idmap = out.ridmap = true;
    } else if (o == "tmpcopyup") {
      out.tmpcopyup = true;
    } else {
      out.data += (out.data.empty() ? "" : ",") + o;
    }
  }
  return out;
}

void remount(const std::string& target, unsigned long flags) {
  unsigned long base = MS_REMOUNT | MS_BIND;
  if (::mount("", target.c_str(), nullptr, base | flags, nullptr) == 0) return;
  if (errno != EPERM) fail_errno("remount {}", target);
  // In a user namespace the kernel refuses to clear flags it locked: keep them and retry.
  unsigned long locked = current_mount_flags(target) & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
  if (::mount("", target.c_str(), nullptr, base | flags | locked, nullptr) < 0)
    fail_errno("remount {}", target);
}

bool wants_idmap(const oci::Mount& m) {
  for (const auto& o : m.options)
    if (o == "idmap" || o == "ridmap") return true;
  return !m.uid_mappings.empty() || !m.gid_mappings.empty();
}

namespace {

// `m`'s options, an error naming "<where>.options" if they cannot be understood.
MountFlags parse_entry_options(const oci::Mount& m, const std::string& where) {
  try {
    return parse_mount_options(m.options);
  } catch (const Error& e) {
    fail("{}.options: {}", where, e.what());
  }
}

// The rules of config.md for idmap/ridmap and uidMappings/gidMappings on one mount.
void check_idmap(const oci::Mount& m, const MountFlags& mf, bool container_maps,
                 const std::string& where) {
  bool own = !m.uid_mappings.empty() || !m.gid_mappings.empty();
  bool bind = mf.bind || m.type == "bind";
  const char* type = m.type.empty() ? "untyped" : m.type.c_str();
  if (own && !bind)
    fail("{}.uidMappings: id mappings are only supported on bind mounts, not on {} mounts", where,
         type);
  if (!bind)
    fail("{}.options: \"{}\" is only supported on bind mounts, not on {} mounts", where,
         mf.ridmap ? "ridmap" : "idmap", type);
  if (own && (m.uid_mappings.empty() || m.gid_mappings.empty()))
    fail("{}.uidMappings: uidMappings and gidMappings must be given together", where);
  if (!own && !container_maps)
    fail(
        "{}.options: \"{}\" without uidMappings and gidMappings uses the container's user "
        "namespace mappings, and the container has no user namespace",
        where, mf.ridmap ? "ridmap" : "idmap");
  if (m.source.empty()) fail("{}.source: a bind mount needs a source", where);
}

}  // namespace

UniqueFd prepare_idmapped_mount(const oci::Mount& m, const std::string& bundle,
                                const std::vector<oci::IdMapping>& uids,
                                const std::vector<oci::IdMapping>& gids, const std::string& where,
                                int container_userns) {
  MountFlags mf = parse_entry_options(m, where);
  check_idmap(m, mf, (!uids.empty() && !gids.empty()) || container_userns >= 0, where);
  bool own = !m.uid_mappings.empty();
  std::string source = m.source[0] == '/' ? m.source : bundle + "/" + m.source;
  if (!own && container_userns >= 0)
    return open_idmapped_tree(source, mf.recursive_bind, mf.ridmap, container_userns, where);
  UniqueFd userns = own ? make_userns_fd(m.uid_mappings, m.gid_mappings, where)
                        : make_userns_fd(uids, gids, where);
  return open_idmapped_tree(source, mf.recursive_bind, mf.ridmap, userns.get(), where);
}

UniqueFd prepare_mount_tree(const oci::Mount& m, const std::string& bundle,
                            const std::vector<oci::IdMapping>& uids,
                            const std::vector<oci::IdMapping>& gids, const std::string& where,
                            int container_userns) {
  if (wants_idmap(m)) return prepare_idmapped_mount(m, bundle, uids, gids, where, container_userns);
  MountFlags mf = parse_entry_options(m, where);
  if (!(mf.bind || m.type == "bind") || m.source.empty()) return {};
  std::string source = m.source[0] == '/' ? m.source : bundle + "/" + m.source;
  UniqueFd tree = clone_mount_tree(source, mf.recursive_bind);
  int err = errno;
  if (tree) return tree;
  // Not allowed to clone here (a rootless runtime has no CAP_SYS_ADMIN over the host's mounts),
  // or a kernel before 5.2: the init binds the source itself, as it does without a user
  // namespace.
  if (err == EPERM || err == EACCES || err == ENOSYS) return {};
  errno = err;
  fail_errno("{}.source: {}", where, m.source);
}

namespace {

// `path` with ".", ".." and repeated slashes resolved by name alone, as runc cleans a mount
// destination ("/dev/", "//dev/." and "/x/../dev" are all "/dev").
std::string clean_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string name = path.substr(i, j - i);
    if (name == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!name.empty() && name != ".") {
      parts.push_back(std::move(name));
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

// proc and sysfs may only cover an ordinary directory, as runc requires: a destination that is
// a symlink is refused rather than followed (mounting procfs through a symlink planted in the
// rootfs has been a way to put it where the runtime later writes), and so is anything that is
// not a directory. A missing destination is fine: it is created as a directory.
// Whether a filesystem's data options (comma-separated) set the root's mode.
bool has_mode_option(const std::string& data) {
  size_t start = 0;
  while (start <= data.size()) {
    size_t end = data.find(',', start);
    if (end == std::string::npos) end = data.size();
    if (data.compare(start, 5, "mode=") == 0) return true;
    start = end + 1;
  }
  return false;
}

void check_ordinary_directory(int rootfd, const oci::Mount& m, const std::string& destination,
                              const std::string& where) {
  if (destination == "/") return;
  size_t slash = destination.rfind('/');
  std::string parent = slash == 0 ? "/" : destination.substr(0, slash);
  std::string name = destination.substr(slash + 1);
  UniqueFd dir;
  try {
    dir = open_in_root(rootfd, parent, Create::dir);
  } catch (const Error& e) {
    fail("{}.destination: {}", where, e.what());
  }
  struct stat st;
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    fail_errno("{}.destination: {}", where, m.destination);
  }
  if (!S_ISDIR(st.st_mode))
    fail("{}.destination: filesystem \"{}\" must be mounted on ordinary directory ({} is {})",
         where, m.type, m.destination, S_ISLNK(st.st_mode) ? "a symlink" : "not a directory");
}

// The propagation a bind mount made inside the container would have had: the container's copy
// of the host's mounts is a slave of them with the default "rslave" root, private with
// "rprivate"; a copy cloned on the host is a peer of its source instead, so that mounts under it
// would reach the host. Zero for a shared root, where the bind would be a peer too.
unsigned long propagation_like_a_bind(const std::string& root_propagation, bool recursive) {
  unsigned long root = MS_SLAVE;
  if (!root_propagation.empty()) root = parse_mount_options({root_propagation}).propagation;
  unsigned long rec = recursive ? MS_REC : 0;
  if (root & MS_SHARED) return 0;
  if (root & MS_SLAVE) return MS_SLAVE | rec;
  return MS_PRIVATE | rec;
}

// Runs `f` with errors prefixed "<where>.destination: ".
template <typename F>
auto at_destination(const std::string& where, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    fail("{}.destination: {}", where, e.what());
  }
}

}  // namespace

std::optional<ReadonlyLater> mount_entry(int rootfd, const oci::Mount& m, const MountContext& ctx,
                                         const std::string& where, int prepared_tree) {
  MountFlags mf = parse_entry_options(m, where);
  bool bind = mf.bind || m.type == "bind";
  const bool kernel_fs = !bind && m.type != "cgroup";
  // proc and sysfs: checked and mounted at the cleaned path, the one checked.
  const bool ordinary_dir_only = kernel_fs && (m.type == "proc" || m.type == "sysfs");
  const std::string destination = ordinary_dir_only ? clean_path(m.destination) : m.destination;
  // A read-only tmpfs or /dev is mounted read-write and made read-only by make_readonly_now(),
  // once what goes inside exists (runc: mountPropagate and finalizeRootfs).
  const bool readonly_later = kernel_fs && (mf.flags & MS_RDONLY) &&
                              (m.type == "tmpfs" || clean_path(m.destination) == "/dev");
  if (readonly_later) mf.flags &= ~MS_RDONLY;

  // Made before the destination is touched, so that a refused idmap leaves nothing behind.
  UniqueFd prepared;
  if (prepared_tree >= 0) {
    prepared.reset(::fcntl(prepared_tree, F_DUPFD_CLOEXEC, 0));
    if (!prepared) fail_errno("{}: dup the prepared mount tree", where);
  } else if (wants_idmap(m)) {
    if (ctx.user_namespace) {
      // Idmapping needs privilege over the source's filesystem, which the container's user
      // namespace lacks: the tree must come from prepare_idmapped_mount() before entering it.
      check_idmap(m, mf, true, where);
      fail(
          "{}: an idmapped mount in a container with a user namespace must be prepared "
          "outside that namespace, which did not happen",
          where);
    }
    prepared = prepare_idmapped_mount(m, ctx.bundle, {}, {}, where);
  }

  std::string source = m.source;
  Create kind = Create::dir;
  if (bind) {
    if (source.empty()) fail("{}.source: a bind mount needs a source", where);
    if (source[0] != '/') source = ctx.bundle + "/" + source;
    // A prepared tree is the source, opened where it could be reached: the container's root
    // may have no right to look it up by name.
    struct stat st;
    int r = prepared ? ::fstat(prepared.get(), &st) : ::stat(source.c_str(), &st);
    if (r < 0) fail_errno("{}.source: {}", where, m.source);
    if (!S_ISDIR(st.st_mode)) kind = Create::file;
  }
  if (ordinary_dir_only) check_ordinary_directory(rootfd, m, destination, where);

  // A tmpfs on a directory that exists takes that directory's mode (set-id and sticky bits
  // too), so an image's 0700 or 1777 directory keeps its meaning; a mode= the spec gives wins
  // (runc 1.1 let the directory win even then); one on a new directory keeps the tmpfs's own.
  std::optional<mode_t> covered_mode;
  if (kernel_fs && m.type == "tmpfs" && !mf.tmpcopyup && !has_mode_option(mf.data)) {
    try {
      UniqueFd existing = open_in_root(rootfd, m.destination, Create::none);
      struct stat st;
      if (::fstat(existing.get(), &st) == 0 && S_ISDIR(st.st_mode)) covered_mode = st.st_mode;
    } catch (const Error&) {
      // Missing: created below, as a new directory. Other errors show up there too.
    }
  }

  UniqueFd target = at_destination(where, [&] { return open_in_root(rootfd, destination, kind); });
  std::string tpath = fd_path(target.get());

  if (m.type == "cgroup" && !bind) {
    mount_cgroup_tree(tpath, mf.flags, ctx.cgroup_namespace, where);
  } else if (prepared) {
    move_mount_onto(prepared.get(), target.get(), where, m.destination);
  } else if (bind) {
    unsigned long f = MS_BIND | (mf.recursive_bind ? MS_REC : 0);
    if (::mount(source.c_str(), tpath.c_str(), nullptr, f, nullptr) < 0)
      fail_errno("{}: bind {} on {}", where, source, m.destination);
  } else {
    // tmpcopyup: the directory under the mount point, opened before the tmpfs covers it.
    UniqueFd under;
    if (mf.tmpcopyup) {
      if (m.type != "tmpfs")
        fail("{}.options: tmpcopyup is for tmpfs mounts, not {}", where, m.type);
      under = UniqueFd(::open(tpath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!under) fail_errno("{}: open {} for tmpcopyup", where, m.destination);
    }
    if (!ctx.mount_label.empty() && (m.type == "tmpfs" || m.type == "devpts"))
      mf.data += (mf.data.empty() ? "" : ",") + mount_label_option(ctx.mount_label);
    const char* data = mf.data.empty() ? nullptr : mf.data.c_str();
    int r = ::mount(source.empty() ? m.type.c_str() : source.c_str(), tpath.c_str(), m.type.c_str(),
                    mf.flags & ~MS_REMOUNT, data);
    if (r < 0 && errno == EPERM && m.type == "sysfs" && ctx.user_namespace) {
      // A new sysfs needs rights over the network namespace's owner, which a user namespace
      // lacks when the network namespace was joined from the host: show the host's /sys.
      r = ::mount("/sys", tpath.c_str(), nullptr, MS_BIND | MS_REC, nullptr);
      if (r == 0) {
        target = open_in_root(rootfd, destination, Create::none);
        remount(fd_path(target.get()), mf.flags & ~MS_REMOUNT);
        return std::nullopt;
      }
    }
    if (r < 0)
      fail_errno("{}: mount {} ({}) on {} with options \"{}\"", where, m.source, m.type,
                 m.destination, mf.data);
    if (under || covered_mode) {
      UniqueFd top =
          at_destination(where, [&] { return open_in_root(rootfd, destination, Create::none); });
      UniqueFd dir(::openat(top.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dir) fail_errno("{}: open the new tmpfs on {}", where, m.destination);
      if (covered_mode && ::fchmod(dir.get(), *covered_mode & 07777) < 0)
        fail_errno("{}: give the tmpfs on {} the mode of the directory it covers", where,
                   m.destination);
      if (under) {
        try {
          copy_tree(under.get(), dir.get(), m.destination);
          // The tmpfs root takes the covered directory's owner and mode, as with runc.
          struct stat st;
          if (::fstat(under.get(), &st) < 0 || ::fchown(dir.get(), st.st_uid, st.st_gid) < 0 ||
              ::fchmod(dir.get(), st.st_mode & 07777) < 0)
            fail_errno("tmpcopyup: owner and mode of {}", m.destination);
        } catch (const Error& e) {
          fail("{}: {}", where, e.what());
        }
      }
    }
  }

  // The fd still names the directory under the new mount; reopen to act on the mount itself.
  bool needs_remount = bind && (mf.flags & ~(MS_REC | MS_BIND)) != 0;
  unsigned long inherited =
      prepared_tree >= 0 ? propagation_like_a_bind(ctx.root_propagation, mf.recursive_bind) : 0;
  if (needs_remount || inherited || mf.propagation || mf.attr_set || mf.attr_clr ||
      readonly_later) {
    target = at_destination(where, [&] { return open_in_root(rootfd, destination, Create::none); });
    tpath = fd_path(target.get());
  }
  if (needs_remount) {
    try {
      remount(tpath, mf.flags & ~MS_REMOUNT);
    } catch (const Error& e) {
      fail("{}: {} ({})", where, e.what(), m.destination);
    }
  }
  if (inherited && ::mount("", tpath.c_str(), nullptr, inherited, nullptr) < 0)
    fail_errno("{}: set the propagation of {}", where, m.destination);
  if (mf.propagation && ::mount("", tpath.c_str(), nullptr, mf.propagation, nullptr) < 0)
    fail_errno("{}: set propagation on {}", where, m.destination);
  if (mf.attr_set || mf.attr_clr) {
    struct mount_attr attr = {};
    attr.attr_set = mf.attr_set;
    attr.attr_clr = mf.attr_clr;
    if ((attr.attr_set & MOUNT_ATTR__ATIME) || (attr.attr_clr & MOUNT_ATTR__ATIME))
      attr.attr_clr |= MOUNT_ATTR__ATIME;
    if (mount_setattr(target.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
      fail_errno("{}: apply recursive options to {}", where, m.destination);
  }
  if (readonly_later) return ReadonlyLater{std::move(target), where, m.destination};
  return std::nullopt;
}

void make_readonly_now(const std::vector<ReadonlyLater>& mounts) {
  for (const auto& m : mounts) {
    // Only the read-only flag is added; the mount's other flags stay as they are.
    struct mount_attr attr = {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (mount_setattr(m.mount.get(), "", AT_EMPTY_PATH, &attr) == 0) continue;
    if (errno != ENOSYS) fail_errno("{}: make {} read-only", m.where, m.destination);
    // Before Linux 5.12: a bind remount repeating the flags the mount has.
    std::string path = fd_path(m.mount.get());
    try {
      remount(path, MS_RDONLY | current_mount_flags(path));
    } catch (const Error& e) {
      fail("{}: make {} read-only: {}", m.where, m.destination, e.what());
    }
  }
}

}  // namespace vessel::linux
