// OCI lifecycle hooks: each hook runs with the container state JSON on stdin, its own
// args/env, an optional timeout, and a working directory chosen by the caller (as runc: the
// bundle for the runtime's hooks, the rootfs for createContainer).
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::runtime {

// Runs one hook; throws Error ("<phase> hook [i] /path: exited with status 3: <stderr tail>",
// or "...: timed out after N s" after killing it) when it fails. A non-empty `cwd` is the
// hook's working directory (the caller's otherwise).
void run_hook(const oci::Hook& hook, const std::string& phase, size_t index,
              const std::string& state_json, const std::string& cwd = "");
// Runs the hooks in order, stopping at the first failure (which it throws).
void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& phase,
               const std::string& state_json, const std::string& cwd = "");
// Runs every hook even when some fail (poststop rules); returns the errors as warnings text.
std::vector<std::string> run_hooks_collecting(const std::vector<oci::Hook>& hooks,
                                              const std::string& phase,
                                              const std::string& state_json,
                                              const std::string& cwd = "");

}  // namespace vessel::runtime
