// Runs a helper program to completion: stdin from a string, stdout and stderr captured,
// a deadline after which it is killed. Used for the CNI plugins and iptables.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace vessel {

// Blocks SIGPIPE in this thread while alive: a write to a helper that exits without reading
// its stdin fails with EPIPE instead of killing us. A SIGPIPE our writes left pending is
// consumed before the old mask comes back, so none leaks to the caller.
class SigpipeBlocked {
 public:
  SigpipeBlocked();
  ~SigpipeBlocked();
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

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

// Starts `argv` (argv[0] a path) as a daemon of its own: setsid and a double fork, so no
// process waits for it; stdin and stdout on /dev/null, stderr appended to `log_path` (made
// with `log_mode`), and fd 3 the write end of a pipe on which it says that it is ready. Returns
// what it wrote there, without trailing newlines: "" if it exited without a word. `what` names
// the daemon in errors. Only async-signal-safe calls run in the child (callers may have threads).
std::string spawn_daemon(const std::vector<std::string>& argv, const std::string& log_path,
                         mode_t log_mode, const std::string& what);

}  // namespace vessel
