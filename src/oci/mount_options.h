// The mount option names this runtime recognizes in config.json "mounts[].options".
// One list, shared by the mount code (which must accept each of them) and by `features`
// (which must not promise more than the mount code does).
#pragma once

#include <string>
#include <vector>

namespace vessel::oci {

// Flag-style and propagation options only; filesystem-specific data options ("mode=755",
// "size=64m") are passed through to mount(2) as data and are not listed, per features.md.
const std::vector<std::string>& known_mount_options();

bool is_known_mount_option(const std::string& name);

}  // namespace vessel::oci
