// --console-socket from the test's side (and other unix sockets a runtime connects to): a listener
// that receives the pty master a runtime sends (SCM_RIGHTS), and reading a pty master up to a
// marker.
#pragma once

#include <string>

#include "harness.h"
#include "util/fd.h"

namespace itest {

// A unix stream socket bound to `path` and listening; invalid (and a test failure) if not.
vessel::UniqueFd listen_unix(const std::string& path);

class ConsoleListener {
 public:
  explicit ConsoleListener(const std::string& path);
  // Accepts one connection and returns the fd received on it; invalid after `timeout`.
  vessel::UniqueFd accept_master(Millis timeout);

 private:
  vessel::UniqueFd fd_;
};

// What the pty master gives until `marker` shows up, EOF/EIO, or the timeout.
std::string read_pty_until(int master, const std::string& marker, Millis timeout);

}  // namespace itest
