#include "linux/mounts.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>

#include "linux/cgroup_mount.h"
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
      {"ro", {false, MS_RDONLY}},          {"rw", {true, MS_RDONLY}},
      {"nosuid", {false, MS_NOSUID}},      {"suid", {true, MS_NOSUID}},
      {"nodev", {false, MS_NODEV}},        {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},      {"exec", {true, MS_NOEXEC}},
      {"sync", {false, MS_SYNCHRONOUS}},   {"async", {true, MS_SYNCHRONOUS}},
      {"dirsync", {false, MS_DIRSYNC}},    {"remount", {false, MS_REMOUNT}},
      {"mand", {false, MS_MANDLOCK}},      {"nomand", {true, MS_MANDLOCK}},
      {"atime", {true, MS_NOATIME}},       {"noatime", {false, MS_NOATIME}},
      {"diratime", {true, MS_NODIRATIME}}, {"nodiratime", {false, MS_NODIRATIME}},
      {"relatime", {false, MS_RELATIME}},  {"norelatime", {true, MS_RELATIME}},
      {"strictatime", {false, MS_STRICTATIME}}, {"nostrictatime", {true, MS_STRICTATIME}},
      {"lazytime", {false, MS_LAZYTIME}},  {"nolazytime", {true, MS_LAZYTIME}},
      {"silent", {false, MS_SILENT}},      {"loud", {true, MS_SILENT}},
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
      {"rro", {false, MOUNT_ATTR_RDONLY}},        {"rrw", {true, MOUNT_ATTR_RDONLY}},
      {"rnosuid", {false, MOUNT_ATTR_NOSUID}},    {"rsuid", {true, MOUNT_ATTR_NOSUID}},
      {"rnodev", {false, MOUNT_ATTR_NODEV}},      {"rdev", {true, MOUNT_ATTR_NODEV}},
      {"rnoexec", {false, MOUNT_ATTR_NOEXEC}},    {"rexec", {true, MOUNT_ATTR_NOEXEC}},
      {"rnodiratime", {false, MOUNT_ATTR_NODIRATIME}}, {"rdiratime", {true, MOUNT_ATTR_NODIRATIME}},
      {"rnoatime", {false, MOUNT_ATTR_NOATIME}},  {"ratime", {true, MOUNT_ATTR__ATIME}},
      {"rrelatime", {false, MOUNT_ATTR_RELATIME}}, {"rnorelatime", {true, MOUNT_ATTR__ATIME}},
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
    } else if (o == "idmap" || o == "ridmap") {
      fail("mount option \"{}\": idmapped mounts are not supported yet", o);
    } else if (o == "tmpcopyup") {
      fail("mount option \"tmpcopyup\" is not supported yet");
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

void mount_entry(int rootfd, const oci::Mount& m, const MountContext& ctx,
                 const std::string& where) {
  MountFlags mf;
  try {
    mf = parse_mount_options(m.options);
  } catch (const Error& e) {
    fail("{}.options: {}", where, e.what());
  }
  if (!m.uid_mappings.empty() || !m.gid_mappings.empty())
    fail("{}.uidMappings: idmapped mounts are not supported yet", where);
  bool bind = mf.bind || m.type == "bind";

  std::string source = m.source;
  Create kind = Create::dir;
  if (bind) {
    if (source.empty()) fail("{}.source: a bind mount needs a source", where);
    if (source[0] != '/') source = ctx.bundle + "/" + source;
    struct stat st;
    if (::stat(source.c_str(), &st) < 0) fail_errno("{}.source: {}", where, m.source);
    if (!S_ISDIR(st.st_mode)) kind = Create::file;
  }

  UniqueFd target;
  try {
    target = open_in_root(rootfd, m.destination, kind);
  } catch (const Error& e) {
    fail("{}.destination: {}", where, e.what());
  }
  std::string tpath = fd_path(target.get());

  if (m.type == "cgroup" && !bind) {
    mount_cgroup_tree(tpath, mf.flags, ctx.cgroup_namespace, where);
  } else if (bind) {
    unsigned long f = MS_BIND | (mf.recursive_bind ? MS_REC : 0);
    if (::mount(source.c_str(), tpath.c_str(), nullptr, f, nullptr) < 0)
      fail_errno("{}: bind {} on {}", where, source, m.destination);
  } else {
    const char* data = mf.data.empty() ? nullptr : mf.data.c_str();
    int r = ::mount(source.empty() ? m.type.c_str() : source.c_str(), tpath.c_str(),
                    m.type.c_str(), mf.flags & ~MS_REMOUNT, data);
    if (r < 0 && errno == EPERM && m.type == "sysfs" && ctx.user_namespace) {
      // A new sysfs needs rights over the network namespace's owner, which a user namespace
      // lacks when the network namespace was joined from the host: show the host's /sys.
      r = ::mount("/sys", tpath.c_str(), nullptr, MS_BIND | MS_REC, nullptr);
      if (r == 0) {
        target = open_in_root(rootfd, m.destination, Create::none);
        remount(fd_path(target.get()), mf.flags & ~MS_REMOUNT);
        return;
      }
    }
    if (r < 0)
      fail_errno("{}: mount {} ({}) on {} with options \"{}\"", where, m.source, m.type,
                 m.destination, mf.data);
  }

  // The fd still names the directory under the new mount; reopen to act on the mount itself.
  bool needs_remount = bind && (mf.flags & ~(MS_REC | MS_BIND)) != 0;
  if (needs_remount || mf.propagation || mf.attr_set || mf.attr_clr) {
    try {
      target = open_in_root(rootfd, m.destination, Create::none);
    } catch (const Error& e) {
      fail("{}.destination: {}", where, e.what());
    }
    tpath = fd_path(target.get());
  }
  if (needs_remount) {
    try {
      remount(tpath, mf.flags & ~MS_REMOUNT);
    } catch (const Error& e) {
      fail("{}: {} ({})", where, e.what(), m.destination);
    }
  }
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
}

}  // namespace vessel::linux
