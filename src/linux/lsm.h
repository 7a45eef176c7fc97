// Linux security modules: AppArmor profiles and SELinux labels for the container's processes
// and mounts. A label asked for on a host without that LSM is an error (runc's rule): running
// the container unconfined instead would be a silent downgrade.
#pragma once

#include <string>

namespace vessel::linux {

bool apparmor_enabled();  // /sys/module/apparmor/parameters/enabled is "Y"
bool selinux_enabled();   // selinuxfs is mounted at /sys/fs/selinux

// Throws "<where>.apparmorProfile: ..." etc. when a label is set and its LSM is missing.
void validate_lsm_labels(const std::string& where, const std::string& apparmor_profile,
                         const std::string& selinux_label);
void validate_mount_label(const std::string& mount_label);

// In the process about to execve the user's program: the AppArmor profile and SELinux label
// it changes to at exec, written through the container's verified /proc.
void set_exec_labels(const std::string& apparmor_profile, const std::string& selinux_label);

// The mount data option that gives a new filesystem mount_label ("context=\"...\""), or ""
// when there is no label.
std::string mount_label_option(const std::string& mount_label);

}  // namespace vessel::linux
