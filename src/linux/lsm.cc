#include "linux/lsm.h"

#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "linux/rootfs.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::linux {

namespace {

constexpr long kSelinuxMagic = 0xf97cff8c;

// Writes `value` to /proc/thread-self/attr/<name> (the first that exists), through /proc
// opened and verified as procfs: a container cannot redirect the write with a bind mount.
void write_attr(const std::vector<std::string>& names, const std::string& value,
                const std::string& what) {
  UniqueFd proc = open_procfs_root();
  std::string last_error;
  for (const auto& n : names) {
    UniqueFd f;
    try {
      // /proc/thread-self is a symlink, which the verified open refuses: spell it out.
      f = open_in_procfs(proc.get(), fmt::format("{}/task/{}/attr/{}", ::getpid(), ::gettid(), n),
                         O_WRONLY | O_CLOEXEC);
    } catch (const Error& e) {
      last_error = e.what();
      continue;
    }
    if (::write(f.get(), value.data(), value.size()) < 0)
      fail_errno("{}: writing \"{}\" to /proc/thread-self/attr/{}", what, value, n);
    return;
  }
  fail("{}: {}", what, last_error);
}

}  // namespace

bool apparmor_enabled() {
  try {
    return read_file("/sys/module/apparmor/parameters/enabled").rfind('Y', 0) == 0 &&
           ::access("/sys/kernel/security/apparmor", F_OK) == 0;
  } catch (const Error&) {
    return false;
  }
}

bool selinux_enabled() {
  struct statfs sf {};
  return ::statfs("/sys/fs/selinux", &sf) == 0 && static_cast<long>(sf.f_type) == kSelinuxMagic;
}

void validate_lsm_labels(const std::string& where, const std::string& apparmor_profile,
                         const std::string& selinux_label) {
  if (!apparmor_profile.empty() && !apparmor_enabled())
    fail("{}.apparmorProfile: \"{}\": AppArmor is not enabled on this host", where,
         apparmor_profile);
  if (!selinux_label.empty() && !selinux_enabled())
    fail("{}.selinuxLabel: \"{}\": SELinux is not enabled on this host", where, selinux_label);
}

void validate_mount_label(const std::string& mount_label) {
  if (!mount_label.empty() && !selinux_enabled())
    fail("config.json: linux.mountLabel: \"{}\": SELinux is not enabled on this host", mount_label);
}

void set_exec_labels(const std::string& apparmor_profile, const std::string& selinux_label) {
  if (!apparmor_profile.empty())
    write_attr({"apparmor/exec", "exec"}, "exec " + apparmor_profile,
               "AppArmor profile " + apparmor_profile);
  if (!selinux_label.empty()) write_attr({"exec"}, selinux_label, "SELinux label " + selinux_label);
}

std::string mount_label_option(const std::string& mount_label) {
  if (mount_label.empty()) return "";
  return "context=\"" + mount_label + "\"";
}

}  // namespace vessel::linux
