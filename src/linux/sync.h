// The parent↔child channel used while a container is being set up: a SOCK_SEQPACKET pair,
// so each message arrives whole, and a child's error text reaches the parent intact.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "util/fd.h"

namespace vessel::linux {

enum class SyncMsg : uint32_t {
  go = 1,            // parent → child: ids mapped, cgroup joined; carry on
  mounts_ready,      // child → parent: mounts done, run prestart/createRuntime hooks now
  hooks_done,        // parent → child
  pty_master,        // child → parent: the pty master fd (SCM_RIGHTS), for foreground `run`
  userns_ready,      // child → parent: unshared a user namespace, write its id maps
  maps_done,         // parent → child
  grandchild_pid,    // init → parent: its host PID (SCM_CREDENTIALS), after the second fork
  ready,             // child → parent: set up, blocked waiting for `start`
  error,             // either way: text is the error message
  seccomp_listener,  // child → parent: the SCMP_ACT_NOTIFY listener fd (SCM_RIGHTS)
};

struct SyncMessage {
  SyncMsg type;
  int64_t value = 0;
  std::string text;
};

class SyncChannel {
 public:
  SyncChannel() = default;
  explicit SyncChannel(UniqueFd fd) : fd_(std::move(fd)) {}
  // Creates a connected pair; first is the parent's end, second the child's.
  static std::pair<SyncChannel, SyncChannel> make_pair();

  void send(SyncMsg type, int64_t value = 0, const std::string& text = {}) const;
  void send_with_fd(SyncMsg type, int fd) const;
  // Throws when the peer closed the channel (with `what` as context) or on a child error.
  SyncMessage recv(const char* what) const;
  // Receives a message that carries an fd; a message of type `error` instead is thrown as an
  // Error carrying its text.
  UniqueFd recv_fd(SyncMsg expected) const;
  // Sends this process's own PID in SCM_CREDENTIALS: the kernel translates it into the
  // receiver's PID namespace, so the parent learns the host PID whatever namespace we are in.
  void send_own_pid(SyncMsg type) const;
  // Receives such a message (the receiving end must have called enable_credentials()).
  pid_t recv_pid(SyncMsg expected, const char* what) const;
  void enable_credentials() const;
  // Like recv(), but a message of type `error` is thrown as an Error carrying its text.
  SyncMessage expect(SyncMsg type, const char* what) const;

  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

}  // namespace vessel::linux
