// The container's root filesystem: propagation, /dev, pivot_root, masked and read-only paths.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "oci/spec.h"
#include "util/fd.h"

namespace vessel::linux {

// Sets the propagation of "/" in the new mount namespace (rootfsPropagation, default rslave
// so nothing the container mounts reaches the host), makes the mount the rootfs is on private
// if it is shared (pivot_root needs that), and bind-mounts the rootfs onto itself so it is a
// mount point pivot_root accepts. Returns an O_PATH fd of the rootfs mount.
// Without a mount namespace of its own (the runtime's is shared) only the bind is made, and
// made private; no propagation of the host's mounts is changed.
// `root_overlay` (a mounts entry of type overlay whose destination is "/", in a container with
// a mount namespace of its own): the overlay is mounted on the rootfs instead of the bind, in
// the container's namespaces, so that a user namespace may mount it (Linux >= 5.11, option
// userxattr); rootless vessel stacks its unshifted image layers this way.
UniqueFd prepare_root(const std::string& rootfs, const std::string& propagation,
                      bool own_mount_namespace, const oci::Mount* root_overlay = nullptr);

// Whether a mounts entry is the root overlay prepare_root mounts (type overlay on "/").
bool is_root_overlay(const oci::Mount& m);

// Creates the spec's default devices (null, zero, full, random, urandom, tty), the /dev
// symlinks (fd, stdin, stdout, stderr, ptmx) and linux.devices. mknod where allowed; in a user
// namespace, bind mounts of the host's nodes instead.
void create_devices(int rootfd, const std::vector<oci::Device>& devices, bool default_devices,
                    bool user_namespace);

// pivot_root into `rootfs` and detach the old root; with no_pivot, MS_MOVE + chroot after
// hiding the procfs and sysfs mounts outside the rootfs; without a mount namespace of its own,
// chroot only.
void enter_root(const std::string& rootfs, bool no_pivot, bool own_mount_namespace);

// After entering the root: cover maskedPaths, make readonlyPaths read-only, "/" read-only.
void mask_paths(const std::vector<std::string>& paths);
void make_readonly_paths(const std::vector<std::string>& paths);
void make_root_readonly();

// Checks that each linux.sysctl key is namespaced and the namespace is the container's own,
// so that writing it cannot change the host. Throws naming the key.
void validate_sysctls(const oci::Spec& spec);
// Writes each sysctl through the container's /proc, which must be the root of a procfs mount,
// opened with openat2() so that no symlink, bind mount or "..": a file mounted over a sysctl
// makes the write fail instead of landing in that file.
void apply_sysctls(const std::map<std::string, std::string>& sysctl);
// An O_PATH fd of /proc, proven to be the root of a procfs mount.
UniqueFd open_procfs_root();
// Opens `rel` (e.g. "sys/kernel/hostname") under a procfs root fd without crossing a mount
// point or following a symlink, and checks the result is on procfs.
UniqueFd open_in_procfs(int procfd, const std::string& rel, int flags);

}  // namespace vessel::linux
