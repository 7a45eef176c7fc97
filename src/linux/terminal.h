// Pseudo-terminals and fd passing: the container's console, the --console-socket protocol
// (master sent with SCM_RIGHTS, as runc does), and the foreground proxy used by `run`.
#pragma once

#include <optional>
#include <string>

#include "oci/spec.h"
#include "util/fd.h"

namespace vessel::linux {

struct Pty {
  UniqueFd master;
  UniqueFd slave;
};

// Opens a new pty from /dev/ptmx of the current mount namespace (call after the container's
// /dev/pts is mounted, so the pty belongs to the container's devpts instance).
Pty open_pty(const std::optional<oci::ConsoleSize>& size);
// The slave's path ("/dev/pts/N"), the name send_fd passes along with the master.
std::string pty_name(int master);
// Makes `slave` the controlling terminal and stdin/stdout/stderr of the calling process.
void make_controlling_terminal(int slave);
// Clears ONLCR on the pty, so "\n" written to it stays "\n" instead of becoming "\r\n". For
// the terminal the runtime proxies itself (foreground, no --console-socket): the caller's own
// terminal translates already, and a pipe after the runtime (`run -t ... | od -c`) must get the
// program's bytes, as with runc, which clears it on the console it proxies.
void clear_onlcr(int pty_fd);

// Connects to an AF_UNIX stream socket at `path`.
UniqueFd connect_unix(const std::string& path);
// Sends one fd with SCM_RIGHTS, with `name` as the message payload (runc sends the pty name).
void send_fd(int sock, int fd, const std::string& name);
// Receives one fd sent by send_fd.
UniqueFd recv_fd(int sock);
// Same, and stores the payload (the pty name for a console socket) in `name`.
UniqueFd recv_fd(int sock, std::string* name);

// Copies between the caller's stdin/stdout and `master` until the container side closes,
// puts the caller's terminal (if stdin is a tty) in raw mode for the duration and restores it,
// and forwards window-size changes. Returns when the master reaches EOF/EIO or `stop_fd`
// becomes readable (false), or when the input brought `detach_keys` (util/detach_keys.h; "":
// never), which are not sent on (true: the caller leaves the process running).
bool proxy_terminal(int master, int stop_fd, const std::string& detach_keys = "");

}  // namespace vessel::linux
