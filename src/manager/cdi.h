// CDI, the Container Device Interface (cdiVersion up to 0.6): `--device vendor.com/class=name`
// names a device that a spec file describes, and the spec says what the container needs for it:
// device nodes, mounts, environment variables and OCI hooks ("containerEdits"), for the whole
// spec and for each device. Spec files are JSON (*.json) or YAML (*.yaml, *.yml), read from
// /etc/cdi then /var/run/cdi (a later directory wins for a device both define);
// $VESSEL_CDI_SPEC_DIRS (colon-separated) or vessel.conf's containers.cdi_spec_dirs replace that
// list.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vessel::manager {

// "vendor.com/class=name": a CDI name, not a host path.
bool is_cdi_device_name(const std::string& s);

// The directories searched, in order.
std::vector<std::string> cdi_spec_dirs();

// Applies the edits of each named device (and of its spec) to an OCI config.json. Throws a
// one-line error for an unknown device or a spec that cannot be used (naming the file).
void apply_cdi_devices(nlohmann::json& spec, const std::vector<std::string>& names,
                       const std::vector<std::string>& dirs);

}  // namespace vessel::manager
