// The cgroup operations on an existing container: pause, resume, ps, update, events --stats.
#include "cgroups/resources.h"

#include <signal.h>

#include "cgroups/manager.h"
#include "linux/namespaces.h"
#include "oci/spec.h"
#include "runtime/container.h"
#include "util/error.h"

namespace vessel::runtime {
namespace {

std::unique_ptr<cgroups::Manager> manager_of(const ContainerRecord& rec, const char* op) {
  if (rec.cgroup.is_null()) fail("cannot {} container \"{}\": it has no cgroup", op, rec.id);
  return cgroups::load_manager(rec.cgroup);
}

// Errors that the saved record names a container that no longer runs.
void require_live(const ContainerRecord& rec, const char* op) {
  std::string status = container_status(rec);
  if (status == "stopped" || status == "creating")
    fail("cannot {} container \"{}\": it is {}", op, rec.id, status);
}

}  // namespace

void Runtime::pause(const std::string& id) {
  ContainerDir dir = store_.open(id);
  ContainerRecord rec = dir.load();
  std::string status = container_status(rec);
  // runc pauses created containers too: their process waits in the runtime's init.
  if (status != "running" && status != "created")
    fail("cannot pause container \"{}\": it is {}, not running", id, status);
  manager_of(rec, "pause")->freeze();
}

void Runtime::resume(const std::string& id) {
  ContainerDir dir = store_.open(id);
  ContainerRecord rec = dir.load();
  std::string status = container_status(rec);
  if (status != "paused") fail("cannot resume container \"{}\": it is {}, not paused", id, status);
  manager_of(rec, "resume")->thaw();
}

std::vector<pid_t> Runtime::pids(const std::string& id) const {
  std::optional<ContainerRecord> rec = store_.peek(id);
  if (!rec) {
    validate_container_id(id);
    fail("container \"{}\" does not exist", id);
  }
  std::string status = container_status(*rec);
  if (status == "creating")
    fail("cannot list the processes of container \"{}\": it is creating", id);
  // Stopped, as runc: whatever its cgroup still holds (nothing when the cgroup is gone).
  if (status == "stopped")
    return rec->cgroup.is_null() ? std::vector<pid_t>{}
                                 : cgroups::load_manager(rec->cgroup)->pids();
  if (rec->cgroup.is_null()) {
    // A rootless container without a cgroup: its own pid namespace holds all its processes.
    const oci::Namespace* ns =
        oci::parse_spec(rec->config.dump()).find_namespace(oci::NamespaceType::pid);
    if (ns && ns->path.empty()) return linux::pids_in_pid_namespace_of(rec->pid);
    return {rec->pid};
  }
  return manager_of(*rec, "list the processes of")->pids();
}

void Runtime::update(const std::string& id, const nlohmann::json& resources) {
  if (!resources.is_object()) fail("update: the resources must be a JSON object (linux.resources)");
  ContainerDir dir = store_.open(id);
  ContainerRecord rec = dir.load();
  require_live(rec, "update");
  // Only the new values are written: rewriting the saved ones (device rules above all) would
  // briefly undo them in the running container.
  try {
    manager_of(rec, "update")->apply(resources);
  } catch (const Error& e) {
    // The values came from the caller, not from config.json.
    throw cgroups::with_resources_source(e, "update");
  }
  nlohmann::json& saved = rec.config["linux"]["resources"];
  if (!saved.is_object()) saved = nlohmann::json::object();
  // A JSON merge patch: objects merge key by key, and a null removes a setting.
  saved.merge_patch(resources);
  dir.save(rec);
}

nlohmann::json Runtime::stats(const std::string& id) const {
  std::optional<ContainerRecord> rec = store_.peek(id);
  if (!rec) {
    validate_container_id(id);
    fail("container \"{}\" does not exist", id);
  }
  require_live(*rec, "get the statistics of");
  return manager_of(*rec, "get the statistics of")->stats();
}

uint64_t Runtime::oom_kills(const std::string& id) const {
  std::optional<ContainerRecord> rec = store_.peek(id);
  if (!rec || rec->cgroup.is_null()) return 0;
  return cgroups::load_manager(rec->cgroup)->oom_kills();
}

}  // namespace vessel::runtime
