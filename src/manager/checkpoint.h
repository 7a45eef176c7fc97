// vessel checkpoint / vessel restore: a running container frozen to disk with CRIU (through
// vessel's own runtime, runtime/checkpoint.cc) and brought back under a monitor of its own,
// in place or from an exported archive into another store. docs/checkpoint.md.
//
// A checkpoint lives in the container's directory, <dir>/checkpoint (CRIU's images, the
// runtime's descriptors.json and vessel-checkpoint.json); the export archive (tar.gz) holds
//   container.json        the record: name, ID, image, the run options (volumes by name)
//   checkpoint/...        the same files as <dir>/checkpoint
//   rootfs-diff.tar.gz    the overlay upper layer as a layer (whiteouts as .wh. entries)
#pragma once

#include <string>

#include "manager/containers.h"
#include "manager/oci_runtime.h"
#include "manager/store.h"

namespace vessel::manager {

struct CheckpointRequest {
  std::string ref;
  std::string export_path;     // --export FILE.tar.gz
  bool leave_running = false;  // --leave-running
  bool tcp_established = false;
  bool file_locks = false;
};
// Checks everything first (the container runs under vessel's own runtime with pipes for
// stdio, `criu check` passes, the export's directory exists): a refusal changes nothing.
// Without --leave-running the container ends up exited (code 0) with its checkpoint kept.
ContainerRecord checkpoint_container(Store& store, const CheckpointRequest& req);

struct RestoreRequest {
  std::string ref;          // a container with a checkpoint, or
  std::string import_path;  // --import FILE.tar.gz: a new container from an archive
  std::string name;         // --name (with --import): the new container's name
  bool tcp_established = false;
  bool keep = false;  // --keep: the checkpoint stays after a successful restore
};
// The container running again under its monitor, as it was at the checkpoint. A failed
// --import leaves no container, files or mounts behind.
ContainerRecord restore_container(Store& store, const RestoreRequest& req);

// <dir>/checkpoint, and whether it holds a checkpoint.
std::string checkpoint_dir(Store& store, const std::string& id);
bool has_checkpoint(Store& store, const std::string& id);
// inspect's State.Checkpointed/CheckpointedAt/CheckpointPath.
nlohmann::json checkpoint_state(Store& store, const ContainerRecord& c);

// In the container's directory while `vessel checkpoint` dumps it: the monitor, seeing the
// container's processes end, records exit code 0 and does not apply the restart policy.
inline constexpr const char* kCheckpointingMarker = "checkpointing";
// In the checkpoint directory: when it was made and with which flags.
inline constexpr const char* kCheckpointMetaFile = "vessel-checkpoint.json";

// The monitor's restore flags: those the checkpoint was made with, plus the caller's.
OciRuntime::RestoreFlags restore_flags(Store& store, const ContainerRecord& c,
                                       const RestoreCall& call);

}  // namespace vessel::manager
