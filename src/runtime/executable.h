// The last steps before execve() that the container init and `exec` share: finding the
// program in the container's PATH and defaulting HOME from the container's /etc/passwd.
// Both run inside the container (its root and mount namespace), as the container's process.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::runtime {

// Resolves args[0] with the process's PATH (a name with a slash: relative to the working
// directory), as Go's exec.LookPath does in runc, so a program that cannot run is reported with
// its name before execve(). The errors carry runc's words, which engines map to exit codes
// (docker: "executable file not found" and "no such file or directory" 127, "permission
// denied" 126): `exec: "x": executable file not found in $PATH`, `exec: "/x": stat /x: no such
// file or directory`, `exec: "/x": permission denied`. `context` prefixes them; empty for none.
std::string find_executable(const oci::Process& p, const std::string& context = "process.args[0]");

// strerror(err) as Go spells it: lower case ("no such file or directory").
std::string go_error_text(int err);
// Throws the failure of execve(path) in runc's words: "exec PATH: exec format error".
[[noreturn]] void fail_execve(const std::string& path, int err);

// process.env, plus HOME from the user's /etc/passwd entry (or "/") unless env sets it.
std::vector<std::string> with_home(const oci::Process& p);

}  // namespace vessel::runtime
