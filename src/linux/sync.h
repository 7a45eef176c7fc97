// The parent↔child channel used while a container is being set up: a SOCK_SEQPACKET pair,
// so each message arrives whole, and a child's error text reaches the parent intact.
#pragma once

#include <cstdint>
#include <string>

#include "util/fd.h"

namespace vessel::linux {

enum class SyncMsg : uint32_t {
  go = 1,            // parent → child: ids mapped, cgroup joined; carry on
  mounts_ready,      // child → parent: mounts done, run prestart/createRuntime hooks now
  hooks_done,        // parent → child
  pty_master,        // child → parent: the pty master fd (SCM_RIGHTS), for foreground `run`
  grandchild_pid,    // intermediate → parent: the real init pid (when a second fork is needed)
  ready,             // child → parent: set up, blocked waiting for `start`
  error,             // either way: text is the error message
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
  // Receives a message that carries an fd.
  UniqueFd recv_fd(SyncMsg expected) const;
  // Like recv(), but a message of type `error` is thrown as an Error carrying its text.
  SyncMessage expect(SyncMsg type, const char* what) const;

  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

}  // namespace vessel::linux
