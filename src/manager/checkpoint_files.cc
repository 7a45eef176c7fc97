// The parts of manager/checkpoint.h that vessel-monitor-ctl uses: where a container's
// checkpoint lives and what it was made with (no image layer, no libarchive here).
#include <nlohmann/json.hpp>

#include "manager/checkpoint.h"
#include "util/file.h"

namespace vessel::manager {

using nlohmann::json;

std::string checkpoint_dir(Store& store, const std::string& id) {
  return container_dir(store, id) + "/checkpoint";
}

bool has_checkpoint(Store& store, const std::string& id) {
  return path_exists(checkpoint_dir(store, id) + "/inventory.img");
}

json checkpoint_state(Store& store, const ContainerRecord& c) {
  json s = {{"Checkpointed", false}};
  if (!has_checkpoint(store, c.id)) return s;
  s["Checkpointed"] = true;
  s["CheckpointPath"] = checkpoint_dir(store, c.id);
  try {
    s["CheckpointedAt"] =
        json::parse(read_file(checkpoint_dir(store, c.id) + "/" + kCheckpointMetaFile))
            .value("checkpointed_at", "");
  } catch (const std::exception&) {
  }
  return s;
}

OciRuntime::RestoreFlags restore_flags(Store& store, const ContainerRecord& c,
                                       const RestoreCall& call) {
  OciRuntime::RestoreFlags f;
  json meta = json::object();
  try {
    meta = json::parse(read_file(checkpoint_dir(store, c.id) + "/" + kCheckpointMetaFile));
  } catch (const std::exception&) {
  }
  f.tcp_established = call.tcp_established || meta.value("tcp_established", false);
  f.file_locks = meta.value("file_locks", false);
  return f;
}

}  // namespace vessel::manager
