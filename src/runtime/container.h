// The lifecycle of one OCI container: create, start, run, state, kill, delete, list.
// Each public function is one runtime command; the CLI maps argv onto these.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "oci/state.h"
#include "runtime/checkpoint.h"
#include "runtime/state_store.h"

namespace vessel::runtime {

struct CreateOptions {
  std::string id;
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;
  // An unprivileged caller: a cgroup it may not create is skipped (with a warning), and the
  // container process stays dumpable until its id mappings are written (newuidmap and the
  // kernel check that the caller owns it).
  bool rootless = false;
  // Where compiled seccomp programs are kept between runs (linux/seccomp_cache.h); "" for none.
  std::string seccomp_cache_dir;
};

struct RunOptions {
  CreateOptions create;
  bool detach = false;
  bool keep = false;
  bool no_subreaper = false;
};

// `exec`: a new process in a running container (runtime/exec.cc).
struct ExecOptions {
  std::string id;
  std::string process_json;       // --process FILE: a runtime-spec "process" object
  std::vector<std::string> args;  // or the command line (with the flags below)
  bool tty = false;
  std::string console_socket;
  bool detach = false;
  std::string pid_file;
  std::vector<std::string> env;
  std::string cwd;
  std::string user;  // "uid[:gid]"
  std::vector<uint32_t> additional_gids;
  std::vector<std::string> caps;  // added to the container's capability sets
  bool no_new_privs = false;
  std::string apparmor;
  std::string process_label;
  int preserve_fds = 0;
  bool ignore_paused = false;
  // --cgroup, repeatable: [controller[,controller]:]path, a sub-cgroup of the container's.
  std::vector<std::string> sub_cgroups;
  // With a terminal in the foreground: the bytes that detach (util/detach_keys.h); the process
  // then runs on with its terminal held by a small process of its own. "": none (runc's way).
  std::string detach_keys;
};

struct ListEntry {
  oci::State state;
  std::string created;
  std::string owner;
  std::string rootfs;
};

struct CreatedContainer;  // container.cc

// A created container whose process waits to be released by the process that created it
// (Runtime::create_held), not by a `start` on a socket: no socket file, no second reading of
// the state, and the container's process ends by itself if its creator dies before
// Runtime::start_held.
class HeldContainer {
 public:
  HeldContainer(HeldContainer&&) noexcept;
  HeldContainer& operator=(HeldContainer&&) noexcept;
  ~HeldContainer();
  pid_t pid() const;

 private:
  friend class Runtime;
  explicit HeldContainer(std::unique_ptr<CreatedContainer> c);
  std::unique_ptr<CreatedContainer> c_;
};

class Runtime {
 public:
  explicit Runtime(std::string root) : store_(std::move(root)) {}

  // Sets up the container and leaves its process blocked before the user program; returns
  // its host PID. The calling process keeps nothing running.
  pid_t create(const CreateOptions& opts);
  void start(const std::string& id);
  // create + start with the release kept in this process (see HeldContainer); for a caller
  // that does more between the two (the monitor takes the console first).
  HeldContainer create_held(const CreateOptions& opts);
  void start_held(HeldContainer& held);
  // create + start; in the foreground it forwards signals, waits, deletes the container and
  // returns the exit code (128+N for a signal). Detached, it returns 0 once started.
  int run(const RunOptions& opts);
  oci::State state(const std::string& id) const;
  // The state with what `state` and `list` print beyond it (rootfs, created, owner).
  ListEntry describe(const std::string& id) const;
  void kill(const std::string& id, int signal, bool all);
  void remove(const std::string& id, bool force);
  std::vector<ListEntry> list() const;

  // runtime/exec.cc. Foreground: the process's exit code; detached: 0 once it runs.
  int exec(const ExecOptions& opts);

  // runtime/resources.cc: cgroup operations on a created/running container.
  void pause(const std::string& id);
  void resume(const std::string& id);
  std::vector<pid_t> pids(const std::string& id) const;
  void update(const std::string& id, const nlohmann::json& resources);
  // runc's `events --stats` "data" object (cpu, memory, pids, blkio, hugetlb...).
  nlohmann::json stats(const std::string& id) const;
  // How many processes the kernel's OOM killer ended in the container's cgroup (running or
  // stopped, while the cgroup is there); 0 where it cannot tell.
  uint64_t oom_kills(const std::string& id) const;

  // runtime/checkpoint.cc and runtime/restore.cc: CRIU. restore returns as run does.
  void checkpoint(const CheckpointOptions& opts);
  int restore(const RestoreOptions& opts);

 private:
  // held: release through a socket pair (start_held) instead of a start socket. record_later:
  // leave out the last state save, which start_held makes with the start (run: nothing runs
  // in between, and the process ends by itself if this one dies before that save).
  CreatedContainer create_container(const CreateOptions& opts, bool foreground_terminal,
                                    bool held = false, bool record_later = false);
  void start_locked(ContainerDir& dir, ContainerRecord& rec);
  void start_created(CreatedContainer& c);
  void destroy_locked(ContainerDir& dir, const ContainerRecord& rec);
  StateStore store_;
};

// "created", "running", "stopped" from the record and the process it names.
std::string container_status(const ContainerRecord& rec);
// Parses "KILL", "SIGKILL", "9"; throws on anything else.
int parse_signal(const std::string& s);

}  // namespace vessel::runtime
