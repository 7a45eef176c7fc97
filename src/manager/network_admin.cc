// `vessel network rm`, `connect` and `disconnect`: they act on containers (remove them, find
// them by name), so they live apart from networks.cc, which the monitor links.
#include <unistd.h>

#include <algorithm>

#include "manager/containers.h"
#include "manager/dns.h"
#include "manager/events.h"
#include "manager/network_state.h"
#include "manager/networks.h"
#include "manager/rootless_netns.h"
#include "network/isolation.h"
#include "network/netns.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::manager {

using nlohmann::json;
using namespace detail;

namespace {

// The hosts files and resolver of `network` after `id` joined or left it; a user's are in the
// user's network namespace.
void refresh(Store& store, const std::string& network, const std::string& id) {
  if (::geteuid() == 0)
    refresh_hosts(store, {network}, id);
  else
    refresh_rootless_hosts(store, network, id);
}

}  // namespace

void remove_network(Store& store, const std::string& ref, bool force) {
  auto n = find_network_or_fail(store, ref);
  if (n.name == kDefaultNetwork) fail("the default network {} cannot be removed", n.name);
  auto users = store.network_users(n.name);
  if (!users.empty()) {
    if (!force)
      fail("network {} is in use by container {}: remove or disconnect it first", n.name,
           short_id(users.front()));
    for (const auto& id : users) remove_container(store, id, true);
  }
  auto undo = [n](Store&) {
    try {
      network::remove_isolation(n.bridge, n.internal, !n.subnet6.empty());
    } catch (const Error& e) {
      log::warn(e.what());
    }
    try {
      network::delete_bridge(n.bridge);
    } catch (const Error& e) {
      log::warn(e.what());
    }
  };
  // An ordinary user's bridges are in the user's network namespace, if it still runs.
  if (::geteuid() == 0)
    undo(store);
  else if (rootless_netns_pid(store) > 0)
    in_rootless_netns(store, undo);
  dns::stop(store, n.name);
  remove_tree(ipam_dir(store) + "/" + n.name);
  store.remove_network(n.name);
  emit_event(store.paths().root, "network", "destroy", n.id,
             {{"name", n.name}, {"type", n.driver}});
}

void connect_network(Store& store, const std::string& container, const std::string& network,
                     const std::vector<std::string>& aliases) {
  auto c = find_or_fail(store, container);
  auto n = find_network_or_fail(store, network);
  auto opts = c.options.get<RunOptions>();
  if (!aliases.empty() && !dns::wanted(n))
    fail("--alias: aliases are for user-defined networks only, not {}", n.name);
  for (const auto& a : aliases) validate_name("--alias", a);
  if (opts.network != "bridge")
    fail("container {} has --network {}: only containers on bridge networks can join others",
         c.name, opts.network);
  if (std::find(opts.networks.begin(), opts.networks.end(), n.name) != opts.networks.end())
    fail("container {} is already connected to network {}", c.name, n.name);
  json st = read_state(store, c.id);
  bool live = (c.state == "running" || c.state == "paused") && st.is_object();
  if (live) {
    std::set<std::string> used;
    for (const auto& a : st["attachments"]) used.insert(a.value("ifname", ""));
    std::string ifname;
    for (int i = 0; ifname.empty(); ++i)
      if (!used.count("eth" + std::to_string(i))) ifname = "eth" + std::to_string(i);
    if (::geteuid() != 0) {  // an ordinary user: in the user's network namespace
      attach_rootless_network(store, c.id, c.pid, n, ifname);
    } else {
      try {
        add_attachment(store, c.id, st, n, ifname, json::object());
      } catch (...) {
        // The failed attachment was recorded before ADD: forget it (ADD undid itself).
        st["attachments"].erase(st["attachments"].size() - 1);
        save_state(store, c.id, st);
        throw;
      }
    }
  }
  opts.networks.push_back(n.name);
  if (!aliases.empty()) opts.connect_aliases[n.name] = aliases;
  json j = opts;
  store.set_container_options(c.id, j);
  if (live) refresh(store, n.name, c.id);
  emit_event(store.paths().root, "network", "connect", n.id,
             {{"name", n.name}, {"type", n.driver}, {"container", c.id}});
}

void disconnect_network(Store& store, const std::string& container, const std::string& network) {
  auto c = find_or_fail(store, container);
  auto n = find_network_or_fail(store, network);
  auto opts = c.options.get<RunOptions>();
  auto it = std::find(opts.networks.begin(), opts.networks.end(), n.name);
  if (it == opts.networks.end())
    fail("container {} is not connected to network {}", c.name, n.name);
  json st = read_state(store, c.id);
  if (::geteuid() != 0) {
    // A user's container's namespace is its init's: DEL there while it runs; a crash's leftover
    // state is torn down (DEL for every attachment) at its next start.
    if (st.is_object() && (c.state == "running" || c.state == "paused"))
      detach_rootless_network(store, c.id, c.pid, n.name);
  } else if (st.is_object()) {
    json kept = json::array();
    for (const auto& a : st["attachments"]) {
      if (a.value("network", "") != n.name) {
        kept.push_back(a);
        continue;
      }
      network::CniRunner cni;
      cni.del(attachment_of(a, c.id, st["netns"]), a.value("result", json()));
    }
    st["attachments"] = kept;
    save_state(store, c.id, st);
  }
  opts.networks.erase(it);
  opts.connect_aliases.erase(n.name);
  json j = opts;
  store.set_container_options(c.id, j);
  refresh(store, n.name, c.id);
  emit_event(store.paths().root, "network", "disconnect", n.id,
             {{"name", n.name}, {"type", n.driver}, {"container", c.id}});
}

}  // namespace vessel::manager
