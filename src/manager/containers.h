// Container lifecycle of the manager: create, start (through a monitor), stop, kill,
// remove, wait, and the repair of records whose monitor died.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "manager/options.h"
#include "manager/store.h"
#include "util/fd.h"

namespace vessel::manager {

// Validates the options, prepares the container's directory, root filesystem and
// config.json, and records it as "created". Nothing is left behind when it fails.
ContainerRecord create_container(Store& store, RunOptions opts);

// Starts the container through a new monitor process. With `attach` the caller gets the
// monitor's end of the stream (manager/attach.h) before the container starts, so it sees
// all output; otherwise this returns once the container runs (or throws why it did not).
struct StartResult {
  pid_t pid = 0;
  UniqueFd stream;  // when attached: read frames until Frame::exited
  // When attached and the container has a healthcheck: closed when its runner has ended.
  UniqueFd health_runner;
};
// With `restore`, the monitor restores the container from its checkpoint (manager/checkpoint.h)
// instead of creating and starting it.
struct RestoreCall {
  bool tcp_established = false;
};
// How the monitor process is started. `detached` (double fork): it is nobody's child from the
// start, for callers that live on (the API server, the healthcheck runner), which would
// otherwise collect zombies. `child_of_caller` (one posix_spawn with setsid, no copy of the
// caller's address space): for a `vessel` command that ends soon after the monitor's `exited`
// frame or `started` frame; until then the monitor is its child, and a monitor that ends first
// stays a zombie only as long as the command (monitor_alive() treats a zombie as dead).
enum class MonitorSpawn { detached, child_of_caller };
StartResult start_container(Store& store, const std::string& ref, bool attach,
                            const RestoreCall* restore = nullptr,
                            MonitorSpawn spawn = MonitorSpawn::detached);

// SIGTERM (or the stop signal), then SIGKILL after `timeout` seconds; the restart policy
// does not bring it back. Returns false when the container was not running.
bool stop_container(Store& store, const std::string& ref, std::optional<int> timeout);
void kill_container(Store& store, const std::string& ref, const std::string& signal);
void pause_container(Store& store, const std::string& ref, bool pause);
// Removes the container (running ones only with `force`, stopped first), its directory and
// upper layer; with `volumes` also the anonymous volumes it created.
void remove_container(Store& store, const std::string& ref, bool force, bool volumes = false);
// Waits for the container to exit and returns its exit code.
int wait_container(Store& store, const std::string& ref);

// A record as it is now: a container whose monitor died is repaired (its state follows
// the container process; an exited one is cleaned up).
// When the monitor died with its container, the restart policy applies as the monitor would
// have applied it (the exit code is then unknown: 255, a failure).
ContainerRecord refresh(Store& store, ContainerRecord c);
// The restart policy (--restart) for a container that exited with `exit_code`.
bool should_restart(const ContainerRecord& c, int exit_code);
ContainerRecord find_or_fail(Store& store, const std::string& ref);

// How vessel-monitor-ctl was called: by start_container (first), or by vessel-monitor once the
// container's init exited (resume: its exit code, the attach listener and the clients go on).
struct MonitorCall {
  std::vector<int> client_fds;
  bool resume = false;
  int exit_code = 0;
  int attach_fd = -1;
  int64_t started_ms = 0;  // CLOCK_MONOTONIC when the container last started
  int64_t backoff_ms = 100;
  bool restore = false;  // --restore: from the container's checkpoint
  bool restore_tcp_established = false;
};

// The entry point of vessel-monitor-ctl: owns the container until it is gone (as vessel-monitor
// while the container runs).
int monitor_main(Store& store, const std::string& id, const MonitorCall& call);

// Volumes
VolumeRecord create_volume(Store& store, const std::string& name,
                           const nlohmann::json& labels = nlohmann::json::object());
// Volumes made for an image's `Volumes` that the user did not mount anything on: they carry
// this label, go with `rm -v` and with `--rm`.
inline constexpr const char* kAnonymousVolumeLabel = "io.vessel.anonymous";
// Removes the anonymous volumes among a container's options (no check for other users: an
// anonymous volume belongs to the container that made it).
void remove_anonymous_volumes(Store& store, const nlohmann::json& options);
void remove_volume(Store& store, const std::string& name, bool force);

std::string container_dir(Store& store, const std::string& id);
std::string log_path(Store& store, const std::string& id);
// State.OOMKilled: the OOM killer ended a process of the container's last run (DIR/oom-killed,
// written by the monitor when the container exits).
bool oom_killed(Store& store, const std::string& id);
void set_oom_killed(Store& store, const std::string& id, bool killed);
// Bytes the container wrote to its root filesystem: its overlay upper layer, or its whole vfs copy
// (ps --size). Files only, no directory entries; 0 where there is none.
uint64_t container_rw_size(Store& store, const std::string& id);
// The log's files, oldest first: the rotated ctr.log.N … ctr.log.1 that exist, then ctr.log.
std::vector<std::string> log_files(Store& store, const std::string& id);
// Where a running container's monitor accepts `vessel attach` clients.
std::string attach_socket_path(Store& store, const std::string& id);
bool monitor_alive(const ContainerRecord& c);

}  // namespace vessel::manager
