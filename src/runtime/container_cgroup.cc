#include "runtime/container_cgroup.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/error.h"
#include "util/log.h"

namespace vessel::runtime {
namespace {

// runc's fixed allow list, added after linux.resources.devices whatever those say, so the
// devices every container needs stay usable. linux.devices grants nothing: a node made there
// needs a rule of its own. As in runc, a linux.devices entry at one of these paths replaces
// the node and takes the path's rule off the list.
struct DefaultDeviceRule {
  const char* path;  // nullptr: a rule without a node
  char type;
  int64_t major, minor;  // -1: any
  const char* access;
};
constexpr DefaultDeviceRule kDefaultDeviceRules[] = {
    {nullptr, 'c', -1, -1, "m"},     {nullptr, 'b', -1, -1, "m"},
    {"/dev/null", 'c', 1, 3, "rwm"}, {"/dev/random", 'c', 1, 8, "rwm"},
    {"/dev/full", 'c', 1, 7, "rwm"}, {"/dev/tty", 'c', 5, 0, "rwm"},
    {"/dev/zero", 'c', 1, 5, "rwm"}, {"/dev/urandom", 'c', 1, 9, "rwm"},
    {nullptr, 'c', 136, -1, "rwm"},  // /dev/pts/*
    {nullptr, 'c', 5, 2, "rwm"},     // /dev/ptmx
    {nullptr, 'c', 10, 200, "rwm"},  // /dev/net/tun
};

}  // namespace

nlohmann::json with_default_device_rules(nlohmann::json resources, const oci::Spec& spec) {
  if (!resources.is_object()) resources = nlohmann::json::object();
  nlohmann::json& rules = resources["devices"];
  if (rules.is_null()) rules = nlohmann::json::array();
  if (!rules.is_array()) return resources;  // the resources parser names the error
  for (const DefaultDeviceRule& d : kDefaultDeviceRules) {
    bool replaced = d.path && std::any_of(spec.linux.devices.begin(), spec.linux.devices.end(),
                                          [&](const oci::Device& sd) { return sd.path == d.path; });
    if (replaced) continue;
    nlohmann::json r = {{"allow", true}, {"type", std::string(1, d.type)}, {"access", d.access}};
    if (d.major >= 0) r["major"] = d.major;
    if (d.minor >= 0) r["minor"] = d.minor;
    rules.push_back(std::move(r));
  }
  return resources;
}

// A cgroup that exists already: runc refuses a frozen one, where the init would block for good,
// and warns about one that holds processes (they share the container's limits and are killed
// with it); the systemd driver refuses those too, as its unit must be new. Checked before
// anything is created.
void check_existing_cgroup(const cgroups::Manager& cgroup) {
  if (cgroup.frozen())
    fail(
        "container's cgroup unexpectedly frozen ({}): thaw it, or remove it, or choose another "
        "linux.cgroupsPath",
        cgroup.path());
  std::vector<pid_t> pids = cgroup.pids();
  if (pids.empty()) return;
  std::string msg = fmt::format("container's cgroup is not empty: {} process(es) found in {}",
                                pids.size(), cgroup.path());
  if (cgroups::driver() == cgroups::Driver::systemd)
    fail("{} (the systemd driver needs a new unit)", msg);
  log::warn(msg + "; they share the container's limits and are killed with it");
}

namespace {

bool is_permission_error(const Error& e) {
  int code = e.error_code();
  return code == EACCES || code == EPERM || code == EROFS;
}

}  // namespace

// The container's cgroup, created; none (nullptr) for a rootless container whose caller may
// not create it, as runc: it runs without limits, and with a warning.
std::unique_ptr<cgroups::Manager> create_container_cgroup(std::unique_ptr<cgroups::Manager> cgroup,
                                                          const oci::Spec& spec,
                                                          const CreateOptions& o) {
  try {
    cgroup->create();
    return cgroup;
  } catch (const Error& e) {
    if (!o.rootless || !is_permission_error(e)) throw;
    try {
      cgroup->destroy();  // whatever hierarchies it managed before the refusal
    } catch (const std::exception&) {
    }
    bool limits =
        spec.linux.resources.is_object() &&
        std::any_of(spec.linux.resources.items().begin(), spec.linux.resources.items().end(),
                    [](const auto& kv) { return kv.key() != "devices"; });
    log::warn(fmt::format(
        "rootless container \"{}\" runs without a cgroup{} ({}); delegate a cgroup v2 subtree "
        "to uid {} and point linux.cgroupsPath into it for limits",
        o.id, limits ? ", linux.resources are not applied" : "", e.what(), ::geteuid()));
    return nullptr;
  }
}

}  // namespace vessel::runtime
