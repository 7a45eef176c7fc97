// The container's first process, from clone() to execve(): the start path, in order.
#pragma once

#include <string>
#include <vector>

#include "cgroups/placement.h"
#include "linux/seccomp.h"
#include "linux/sync.h"
#include "oci/spec.h"

namespace vessel::runtime {

struct InitArgs {
  const oci::Spec* spec = nullptr;
  std::string bundle;
  std::string rootfs;
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;
  int console_socket = -1;     // --console-socket connection, or -1
  bool pty_to_parent = false;  // foreground `run` with a terminal: master goes to the parent
  int start_listener = -1;     // `start` connects here to release the process
  // Or, when the runtime that created the process also starts it (run, the monitor): the
  // process's end of a socket pair on which that runtime releases it. EOF (the runtime died
  // first) ends the process.
  int start_conn = -1;
  bool runtime_hooks = false;  // parent runs prestart/createRuntime hooks mid-way
  std::vector<std::pair<oci::NamespaceType, int>> join;  // namespaces to setns() into, user first
  // The slow path, when a user namespace meets namespaces joined by path: the child joins
  // first, then creates the user namespace (the parent maps it), then the rest, and forks once
  // more if it needs a new pid namespace. Zero/false on the fast path (all in clone flags).
  bool unshare_user = false;
  unsigned long unshare_flags = 0;
  bool fork_into_pid_ns = false;
  // Per entry of `mounts`: the detached tree (idmapped, or a bind mount's source) the parent
  // made before the container's user namespace existed (only there it has the rights to), or
  // -1. Empty: none.
  std::vector<int> mount_trees;
  // Rootless: stay dumpable until the parent has written the id mappings (container.cc).
  bool dumpable_until_mapped = false;
  // The container's cgroups to enter by itself (cgroups/placement.h), or null when the parent
  // moves it there. Points into the parent's memory, which the child has a copy of.
  cgroups::Placement* cgroup_placement = nullptr;
  std::string state_json;  // for createContainer/startContainer hooks
  // linux.seccomp compiled by the parent (linux::compile_seccomp), or null: then the child
  // compiles linux.seccomp itself, if there is one.
  const linux::SeccompProgram* seccomp = nullptr;
  linux::SyncChannel* sync = nullptr;
  // The parent's fds the child must not keep (the state directory lock above all: a flock
  // held by the container's copy would block every later command on it).
  std::vector<int> close_in_child;
};

// Runs in the cloned child; never returns. Errors go to the parent over the sync channel.
[[noreturn]] void container_init(InitArgs& args);

}  // namespace vessel::runtime
