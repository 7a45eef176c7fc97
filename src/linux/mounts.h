// Mounts from config.json: option parsing, and mounting one entry inside the rootfs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oci/spec.h"
#include "util/fd.h"

namespace vessel::linux {

struct MountFlags {
  unsigned long flags = 0;        // MS_* for mount(2)
  unsigned long propagation = 0;  // MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC)
  uint64_t attr_set = 0;          // MOUNT_ATTR_* applied recursively (the "r" options)
  uint64_t attr_clr = 0;
  bool bind = false;
  bool recursive_bind = false;
  bool tmpcopyup = false;  // tmpfs only: copy what the destination held into the new tmpfs
  bool idmap = false;      // "idmap" or "ridmap": an idmapped bind mount (linux/idmap.h)
  bool ridmap = false;     // "ridmap": the idmapping applies to every mount of an rbind tree
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
  // linux.rootfsPropagation: a mount tree prepared outside the container gets the propagation
  // a bind made inside would have had (a slave of its source by default, never its peer).
  std::string root_propagation;
};

// A mount that mount_entry() left read-write although its options say "ro" (a tmpfs, or /dev),
// so that what goes inside it (nested mounts, device nodes, the console) can still be made:
// make_readonly_now() makes it read-only at the end of the set-up, as runc does.
struct ReadonlyLater {
  UniqueFd mount;  // O_PATH fd of the mount's root
  std::string where;
  std::string destination;
};

// `prepared_tree`, when not -1, is the detached mount tree for `m` made beforehand, outside the
// container's user namespace, by prepare_mount_tree() (mount_entry dups it; the caller keeps
// its fd). Returns the mount when it must be made read-only later.
std::optional<ReadonlyLater> mount_entry(int rootfd, const oci::Mount& m, const MountContext& ctx,
                                         const std::string& where, int prepared_tree = -1);

// Makes each mount read-only, keeping its other flags.
void make_readonly_now(const std::vector<ReadonlyLater>& mounts);

// Whether `m` asks for an idmapped mount: the "idmap"/"ridmap" options, or uidMappings and
// gidMappings (which imply "idmap", as older configs may omit the option).
bool wants_idmap(const oci::Mount& m);

// The detached idmapped mount for `m` (which must want one), after checking its rules: bind
// mounts only; with no mappings of its own, the container's `uids`/`gids` are used and an
// error is returned if there are none (the container has no user namespace). The caller must
// be privileged over the source's filesystem, i.e. not yet in the container's user namespace:
// a container with one needs this called before its init enters it, and the fd passed to
// mount_entry. A container without one needs nothing: mount_entry calls it.
// `container_userns`, when not -1, is the container's user namespace (one joined by path) and
// stands for `uids`/`gids`.
UniqueFd prepare_idmapped_mount(const oci::Mount& m, const std::string& bundle,
                                const std::vector<oci::IdMapping>& uids,
                                const std::vector<oci::IdMapping>& gids, const std::string& where,
                                int container_userns = -1);

// For a container with a user namespace, made by the runtime before the container's init
// enters it: the idmapped tree of a mount that wants one (prepare_idmapped_mount), or a
// detached copy of a bind mount's source (recursive for rbind), opened with the runtime's
// rights on the host, where the container's root may not even reach the source (a directory
// only the host's root may enter). An empty fd for other mounts, and for a bind source this
// process may not clone either (a rootless runtime): the init then binds it itself.
UniqueFd prepare_mount_tree(const oci::Mount& m, const std::string& bundle,
                            const std::vector<oci::IdMapping>& uids,
                            const std::vector<oci::IdMapping>& gids, const std::string& where,
                            int container_userns = -1);

// Remount of an existing mount point keeping the flags the kernel locked (needed in user
// namespaces, where dropping nosuid/nodev/noexec from a locked mount fails with EPERM).
void remount(const std::string& target, unsigned long flags);

}  // namespace vessel::linux
