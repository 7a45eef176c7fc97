// vessel update (manager/update.h).
#include "manager/update.h"

#include "manager/containers.h"
#include "manager/events.h"
#include "manager/oci_runtime.h"
#include "manager/options.h"
#include "manager/store.h"
#include "runtime/container.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

using nlohmann::json;

void update_container(Store& store, const std::string& ref, const UpdateOptions& u) {
  auto c = find_or_fail(store, ref);
  RunOptions o = c.options.get<RunOptions>();
  json res = json::object();
  if (u.memory) {
    if (*u.memory < 6 * 1024 * 1024 && *u.memory != -1)
      fail("invalid --memory {}: the minimum is 6m", *u.memory);
    o.memory = *u.memory;
    res["memory"]["limit"] = *u.memory;
  }
  if (u.memory_swap) {
    if (!o.memory) fail("--memory-swap needs --memory as well");
    if (*u.memory_swap != -1 && *u.memory_swap < *o.memory)
      fail("invalid --memory-swap: it must be at least --memory (memory plus swap), or -1");
    o.memory_swap = *u.memory_swap;
    res["memory"]["swap"] = *u.memory_swap;
  } else if (u.memory && o.memory_swap && *o.memory_swap != -1 && *o.memory_swap < *u.memory) {
    fail("invalid --memory {}: above the container's --memory-swap {}; give --memory-swap too",
         *u.memory, *o.memory_swap);
  }
  if (u.cpus) {
    if (*u.cpus <= 0) fail("invalid --cpus {}: must be more than 0", *u.cpus);
    o.cpus = *u.cpus;
    res["cpu"]["period"] = 100000;
    res["cpu"]["quota"] = static_cast<int64_t>(*u.cpus * 100000);
  }
  if (u.cpu_shares) {
    o.cpu_shares = *u.cpu_shares;
    res["cpu"]["shares"] = *u.cpu_shares;
  }
  if (u.pids_limit) {
    int64_t p = *u.pids_limit <= 0 ? -1 : *u.pids_limit;
    o.pids_limit = p;
    res["pids"]["limit"] = p;
  }
  if (!u.restart.empty()) {
    parse_restart(u.restart, o);
    if (o.remove && o.restart != "no")
      fail("conflicting options: --restart {} on a --rm container", o.restart);
  }
  if (res.empty() && u.restart.empty())
    fail(
        "update: nothing to change (--memory, --memory-swap, --cpus, --cpu-shares, "
        "--pids-limit, --restart)");

  if (!res.empty() && (c.state == "running" || c.state == "paused"))
    runtime_for(store, c)->update(c.id, res);
  // The next start reads config.json: the new limits go there too.
  if (!res.empty()) {
    std::string cfg = container_dir(store, c.id) + "/config.json";
    json spec = json::parse(read_file(cfg));
    json& saved = spec["linux"]["resources"];
    if (!saved.is_object()) saved = json::object();
    saved.merge_patch(res);
    write_file_atomic(cfg, spec.dump(2), 0600);
  }
  json j = o;
  store.set_container_options(c.id, j);
  emit_container_event(store, c, "update");
}

}  // namespace vessel::manager
