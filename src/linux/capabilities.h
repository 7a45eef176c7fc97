// Linux capabilities for the container process: the five OCI sets, applied around the
// uid/gid switch so the process keeps exactly what config.json asks for.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::linux {

// Throws Error naming the capability if it is unknown ("CAP_FOO").
int capability_from_name(const std::string& name);
// Every capability this kernel knows (0..cap_last_cap), as "CAP_*" names.
std::vector<std::string> known_capabilities();

// Step 1, before switching uid/gid: drop everything outside `bounding` from the bounding set
// and set PR_SET_KEEPCAPS so permitted survives setresuid().
void prepare_capabilities(const oci::Capabilities& caps);
// Step 2, after the uid/gid switch: set effective/permitted/inheritable exactly, then raise
// each ambient capability (only those also in permitted and inheritable), then clear keep-caps.
void apply_capabilities(const oci::Capabilities& caps);

}  // namespace vessel::linux
