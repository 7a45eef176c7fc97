// The OCI runtime that runs a store's containers (vessel.conf's containers.runtime).
//
// By default it is vessel's own runtime library, called in this process (no program to start:
// the fast path). When the setting names another program (runc, crun, a path such as a
// vessel-runtime binary), that program is driven through the OCI runtime command line, with a
// state directory of its own under the run dir (`--root RUNROOT/runtimes/NAME`):
//   create --bundle DIR --pid-file F [--console-socket S] ID, start, state, kill [--all],
//   delete --force, pause, resume, ps --format json, events --stats, update -r FILE,
//   exec --process FILE [--detach] ID.
// Each container keeps the runtime it was created with (RunOptions::runtime in its record), so
// changing the setting affects new containers only.
#pragma once

#include <sys/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manager/store.h"
#include "runtime/container.h"

namespace vessel::manager {

class OciRuntime {
 public:
  virtual ~OciRuntime() = default;
  // Sets the container up with the caller's fds 0-2 as its stdio (or a terminal sent to
  // console_socket) and returns its init's host PID; the init waits for start().
  virtual pid_t create(const std::string& id, const std::string& bundle,
                       const std::string& console_socket, bool rootless) = 0;
  virtual void start(const std::string& id) = 0;
  // A running container from a CRIU checkpoint in `image_path` (runtime/restore.cc), its
  // processes this process's children, its stdio the caller's fds 0-2 wherever they were pipes
  // at the checkpoint. Returns the restored init's host PID. Only vessel's own runtime can.
  struct RestoreFlags {
    bool tcp_established = false;
    bool file_locks = false;
  };
  virtual pid_t restore(const std::string& id, const std::string& bundle,
                        const std::string& image_path, const RestoreFlags& flags) = 0;
  // "created", "running", "paused" or "stopped", and the init's PID.
  virtual oci::State state(const std::string& id) = 0;
  virtual void kill(const std::string& id, int signal, bool all) = 0;
  virtual void remove(const std::string& id, bool force) = 0;
  virtual void pause(const std::string& id) = 0;
  virtual void resume(const std::string& id) = 0;
  virtual std::vector<pid_t> pids(const std::string& id) = 0;
  // runc's `events --stats` "data" object.
  virtual nlohmann::json stats(const std::string& id) = 0;
  virtual void update(const std::string& id, const nlohmann::json& resources) = 0;
  // A new process with the caller's stdio (or terminal). Foreground: its exit code; detached:
  // 0 once it runs. `bundle` is the container's directory (its config.json gives the defaults).
  virtual int exec(const runtime::ExecOptions& o, const std::string& bundle) = 0;

  // The program and its global flags, for callers that run `exec` themselves (the API server);
  // for the built-in runtime, the vessel-runtime binary next to this program.
  virtual std::vector<std::string> command() const = 0;
};

// The runtime a container record names ("" = built-in).
std::unique_ptr<OciRuntime> runtime_for(Store& store, const std::string& binary);
std::unique_ptr<OciRuntime> runtime_for(Store& store, const ContainerRecord& c);

// What containers.runtime says, resolved: "" for vessel's own runtime (unset or
// "vessel-runtime"), else the program's absolute path (a bare name is looked up in $PATH).
// Throws what is wrong with the value.
std::string resolve_runtime(const std::string& value);
// The runtime new containers get (the setting, resolved).
std::string configured_runtime();
// The first line of `PROGRAM --version` (and the commit), for `vessel info`/`version`.
std::string runtime_version_of(const std::string& binary);
// The ociVersion config.json gets for an external runtime: its `features` output's ociVersionMax
// (runtime-spec features.md) when that is older than vessel's spec version, else vessel's
// (1.3.0); kFallbackSpecVersion for a program without `features` (crun 1.8 refuses 1.3.0 and
// takes 1.0.x and 1.1.x). Asked once per program and process.
inline constexpr const char* kFallbackSpecVersion = "1.0.2";
std::string external_spec_version(const std::string& binary);
// The version to write, from `features` output (exposed for unit tests).
std::string spec_version_from_features(const std::string& features_json);
// The state directory an external runtime gets under the run dir.
std::string external_runtime_root(const Store& store, const std::string& binary);

}  // namespace vessel::manager
