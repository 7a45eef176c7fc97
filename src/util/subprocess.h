// Runs a helper program to completion: stdin from a string, stdout and stderr captured,
// a deadline after which it is killed. Used for the CNI plugins and iptables.
#pragma once

#include <string>
#include <vector>

namespace vessel {

struct SubprocessResult {
  int status = 0;  // exit code, or 128+signal
  std::string out;
  std::string err;
};

// `env` replaces the environment (KEY=VALUE); an empty `env` keeps the caller's.
// Throws when the program cannot be started or runs past `timeout_ms` (it is then killed).
SubprocessResult run_subprocess(const std::string& path, const std::vector<std::string>& argv,
                                const std::vector<std::string>& env, const std::string& input,
                                int timeout_ms = 60000);

}  // namespace vessel
