// The last steps before execve() that the container init and `exec` share: finding the
// program in the container's PATH and defaulting HOME from the container's /etc/passwd.
// Both run inside the container (its root and mount namespace), as the container's process.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::runtime {

// Resolves args[0] with the process's PATH, as execvp would, so a missing program is reported
// with its name instead of failing silently at execve(). `context` prefixes the error
// ("process.args[0]: exec \"x\": ..."); empty for none.
std::string find_executable(const oci::Process& p, const std::string& context = "process.args[0]");

// process.env, plus HOME from the user's /etc/passwd entry (or "/") unless env sets it.
std::vector<std::string> with_home(const oci::Process& p);

}  // namespace vessel::runtime
