// Mounts from config.json: option parsing, and mounting one entry inside the rootfs.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::linux {

struct MountFlags {
  unsigned long flags = 0;        // MS_* for mount(2)
  unsigned long propagation = 0;  // MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC)
  uint64_t attr_set = 0;          // MOUNT_ATTR_* applied recursively (the "r" options)
  uint64_t attr_clr = 0;
  bool bind = false;
  bool recursive_bind = false;
  bool tmpcopyup = false;  // tmpfs only: copy what the destination held into the new tmpfs
  std::string data;        // options the kernel filesystem parses (size=, mode=, ...)
};

// Throws naming the option if it cannot be understood (options with '=' and unknown words
// are passed to the filesystem as data, as runc does).
MountFlags parse_mount_options(const std::vector<std::string>& options);

// Mounts `m` inside the root filesystem open at `rootfd` (the destination is resolved with
// open_in_root, so it cannot leave the rootfs).
// `where` is the JSON path used in errors ("mounts[3]").
struct MountContext {
  std::string bundle;           // resolves relative bind sources
  bool user_namespace = false;  // the container has its own user namespace
  bool cgroup_namespace = false;
  std::string mount_label;  // linux.mountLabel: SELinux context of new tmpfs and devpts mounts
};

void mount_entry(int rootfd, const oci::Mount& m, const MountContext& ctx,
                 const std::string& where);

// Remount of an existing mount point keeping the flags the kernel locked (needed in user
// namespaces, where dropping nosuid/nodev/noexec from a locked mount fails with EPERM).
void remount(const std::string& target, unsigned long flags);

}  // namespace vessel::linux
