// CRIU through its RPC: `criu swrk FD` is started with one end of a SOCK_SEQPACKET socketpair
// and served requests in protobuf (linux/criu_rpc.h); CRIU's notifications are answered.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "linux/criu_rpc.h"
#include "util/fd.h"

namespace vessel::linux::criu {

// The criu program: $VESSEL_CRIU, the given path, or `criu` found in PATH ("" when none).
std::string find_criu(const std::string& preferred = "");

// Why CRIU cannot work on this machine, in one line (from `criu check`), or nullopt when it
// can. Missing criu is a reason too.
std::optional<std::string> unavailable_reason(const std::string& criu);

struct SwrkSetup {
  std::string criu;
  // fds the criu process keeps at the same numbers (besides 0-2), for inherit_fd.
  std::vector<int> keep_fds;
  // When set, criu runs in a mount namespace of its own in which this directory is bound onto
  // itself (CRIU restores a root that is a mount point); nothing of it shows on the host.
  std::string private_root_bind;
};

class Swrk {
 public:
  explicit Swrk(const SwrkSetup& setup);
  ~Swrk();
  Swrk(const Swrk&) = delete;
  Swrk& operator=(const Swrk&) = delete;
  pid_t pid() const { return pid_; }
  // A notification (its script name, e.g. "orphan-pts-master") and the fd CRIU sent with it
  // (empty when none). Throwing ends the session with that error.
  using NotifyHandler = std::function<void(const std::string& script, UniqueFd fd)>;
  // Sends one request and answers notifications until the final response, which is returned
  // (success or not).
  Response call(ReqType type, const Opts& opts, const NotifyHandler& on_notify = {});

 private:
  void send(const std::string& msg);
  Response receive(UniqueFd* passed_fd);
  pid_t pid_ = -1;
  UniqueFd sock_;
};

// "CRIU's log says: <last Error line>" from DIR/LOG, or "" when there is none.
std::string last_log_error(const std::string& log_path);

}  // namespace vessel::linux::criu
