#include "oci/mount_options.h"

#include <algorithm>

namespace vessel::oci {

const std::vector<std::string>& known_mount_options() {
  static const std::vector<std::string> options = {
      "ro",          "rw",           "nosuid",       "suid",           "nodev",       "dev",
      "noexec",      "exec",         "sync",         "async",          "dirsync",     "remount",
      "mand",        "nomand",       "atime",        "noatime",        "diratime",    "nodiratime",
      "relatime",    "norelatime",   "strictatime",  "nostrictatime",  "bind",        "rbind",
      "rro",         "rrw",          "rnosuid",      "rsuid",          "rnodev",      "rdev",
      "rnoexec",     "rexec",        "rnoatime",     "ratime",         "rnodiratime", "rdiratime",
      "rrelatime",   "rnorelatime",  "rstrictatime", "rnostrictatime", "private",     "rprivate",
      "shared",      "rshared",      "slave",        "rslave",         "unbindable",  "runbindable",
      "nosymfollow", "rnosymfollow", "lazytime",     "nolazytime",     "silent",      "loud",
      "tmpcopyup",   "idmap",        "ridmap",
  };
  return options;
}

bool is_known_mount_option(const std::string& name) {
  const auto& all = known_mount_options();
  return std::find(all.begin(), all.end(), name) != all.end();
}

}  // namespace vessel::oci
