// The manager's starting config: `vessel-runtime spec`'s template (runc's) with vessel's own
// defaults on top.
#include <algorithm>

#include "oci/spec.h"

namespace vessel::oci {

using nlohmann::json;

json default_spec(bool rootless) {
  json spec = spec_template(rootless, /*cgroup_namespace=*/true);
  // No ambient capabilities, as docker gives none by default.
  spec["process"]["capabilities"].erase("ambient");
  spec["linux"]["maskedPaths"].push_back("/sys/devices/virtual/powercap");
  if (rootless) {
    // An unprivileged user cannot mount cgroupfs; the host's /sys, bound in read-only, holds
    // the cgroup tree.
    json& mounts = spec["mounts"];
    mounts.erase(std::remove_if(mounts.begin(), mounts.end(),
                                [](const json& m) { return m["destination"] == "/sys/fs/cgroup"; }),
                 mounts.end());
  }
  return spec;
}

}  // namespace vessel::oci
