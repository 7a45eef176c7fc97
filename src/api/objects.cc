// Volumes and networks: create, list, inspect, remove, prune; network connect/disconnect.
#include "api/convert.h"
#include "api/routes.h"
#include "manager/containers.h"
#include "manager/networks.h"

namespace vessel::api {

using nlohmann::json;

namespace {

// ---- volumes ----

json volume_json(const manager::VolumeRecord& v) {
  return {{"Name", v.name},
          {"Driver", "local"},
          {"Mountpoint", v.mountpoint},
          {"CreatedAt", v.created},
          {"Labels", v.labels.is_object() ? v.labels : json::object()},
          {"Scope", "local"},
          {"Options", json::object()}};
}

void volume_create(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  json body = req.json_body();
  std::string name = body.value("Name", "");
  std::string driver = body.value("Driver", "");
  if (!driver.empty() && driver != "local")
    throw ApiError(400, "volume driver \"" + driver + "\" is not supported (only local)");
  json opts = body.value("DriverOpts", json::object());
  if (opts.is_object() && !opts.empty()) throw ApiError(400, "volume DriverOpts are not supported");
  if (name.empty()) name = manager::random_hex_id();
  if (auto v = store.volume(name)) return conn.json(201, volume_json(*v));  // as docker
  json labels = body.value("Labels", json::object());
  auto v = manager::create_volume(store, name, labels.is_object() ? labels : json::object());
  conn.json(201, volume_json(v));
}

void volume_list(manager::Store& store, const Request&, Conn& conn, const Params&) {
  json vols = json::array();
  for (const auto& v : store.volumes()) vols.push_back(volume_json(v));
  conn.json(200, {{"Volumes", vols}, {"Warnings", json::array()}});
}

void volume_inspect(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  auto v = store.volume(p.at("name"));
  if (!v) throw ApiError(404, "get " + p.at("name") + ": no such volume");
  conn.json(200, volume_json(*v));
}

void volume_remove(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  if (!store.volume(p.at("name"))) throw ApiError(404, "get " + p.at("name") + ": no such volume");
  bool force = req.q_bool("force");
  if (!store.volume_users(p.at("name")).empty() && !force)
    throw ApiError(409, "remove " + p.at("name") + ": volume is in use");
  manager::remove_volume(store, p.at("name"), force);
  conn.empty(204);
}

void volume_prune(manager::Store& store, const Request&, Conn& conn, const Params&) {
  json deleted = json::array();
  for (const auto& v : store.volumes()) {
    if (!store.volume_users(v.name).empty()) continue;
    manager::remove_volume(store, v.name, false);
    deleted.push_back(v.name);
  }
  conn.json(200, {{"VolumesDeleted", deleted}, {"SpaceReclaimed", 0}});
}

// ---- networks ----

json network_json(manager::Store& store, const manager::NetworkRecord& n) {
  json containers = json::object();
  for (const auto& id : store.network_users(n.name)) {
    auto c = store.container_by_id(id);
    if (!c) continue;
    json entry = {{"Name", c->name},
                  {"EndpointID", ""},
                  {"MacAddress", ""},
                  {"IPv4Address", ""},
                  {"IPv6Address", ""}};
    try {
      auto ns = manager::network_settings(store, *c);
      auto e = ns.value("Networks", json::object()).value(n.name, json::object());
      if (!e.value("IPAddress", "").empty())
        entry["IPv4Address"] =
            e.value("IPAddress", "") + "/" + std::to_string(e.value("IPPrefixLen", 0));
      entry["MacAddress"] = e.value("MacAddress", "");
    } catch (const std::exception&) {
    }
    containers[id] = entry;
  }
  bool is_default = n.name == manager::kDefaultNetwork;
  return {{"Name", n.name},
          {"Id", n.id},
          {"Created", docker_time(n.created)},
          {"Scope", "local"},
          {"Driver", n.driver},
          {"EnableIPv6", false},
          {"IPAM",
           {{"Driver", "default"},
            {"Options", nullptr},
            {"Config", {{{"Subnet", n.subnet}, {"Gateway", n.gateway}}}}}},
          {"Internal", n.internal},
          {"Attachable", false},
          {"Ingress", false},
          {"ConfigFrom", {{"Network", ""}}},
          {"ConfigOnly", false},
          {"Containers", containers},
          {"Options",
           {{"com.docker.network.bridge.name", n.bridge},
            {"com.docker.network.bridge.default_bridge", is_default ? "true" : "false"}}},
          {"Labels", n.labels.is_object() ? n.labels : json::object()}};
}

manager::NetworkRecord find_network(manager::Store& store, const std::string& ref) {
  try {
    return manager::find_network_or_fail(store, ref);
  } catch (const std::exception&) {
    throw ApiError(404, "network " + ref + " not found");
  }
}

void network_create(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  json body = req.json_body();
  manager::NetworkCreateOptions o;
  o.name = body.value("Name", "");
  if (o.name.empty()) throw ApiError(400, "network name is required");
  std::string driver = body.value("Driver", "bridge");
  if (!driver.empty() && driver != "bridge")
    throw ApiError(400, "network driver \"" + driver + "\" is not supported (only bridge)");
  if (store.network(o.name) && store.network(o.name)->name == o.name)
    throw ApiError(409, "network with name " + o.name + " already exists");
  o.internal = body.value("Internal", false);
  json labels = body.value("Labels", json::object());
  if (labels.is_object()) o.labels = labels;
  json ipam = body.value("IPAM", json::object());
  if (ipam.is_object() && ipam.contains("Config") && ipam["Config"].is_array() &&
      !ipam["Config"].empty()) {
    for (const auto& cfg : ipam["Config"]) {
      if (!cfg.is_object()) continue;
      if (std::string sn = cfg.value("Subnet", ""); !sn.empty()) o.subnets.push_back(sn);
      if (std::string gw = cfg.value("Gateway", ""); !gw.empty()) o.gateways.push_back(gw);
    }
  }
  o.ipv6 = body.value("EnableIPv6", false);
  auto n = manager::create_network(store, o);
  conn.json(201, {{"Id", n.id}, {"Warning", ""}});
}

void network_list(manager::Store& store, const Request& req, Conn& conn, const Params&) {
  manager::default_network(store);
  std::string filters = req.q("filters");
  json f = json::object();
  try {
    if (!filters.empty()) f = json::parse(filters);
  } catch (const json::exception&) {
    throw ApiError(400, "invalid filters");
  }
  json out = json::array();
  for (const auto& n : store.networks()) {
    if (f.is_object() && f.contains("name")) {
      bool any = false;
      auto names = f["name"];
      if (names.is_object())
        for (auto& [k, v] : names.items())
          any |= n.name.find(k) != std::string::npos && (v.is_boolean() ? v.get<bool>() : true);
      else if (names.is_array())
        for (const auto& k : names) any |= n.name.find(k.get<std::string>()) != std::string::npos;
      if (!any) continue;
    }
    if (f.is_object() && f.contains("label")) {
      bool all = true;
      auto wanted = f["label"];
      std::vector<std::string> ls;
      if (wanted.is_object())
        for (auto& [k, v] : wanted.items()) ls.push_back(k);
      else if (wanted.is_array())
        for (const auto& k : wanted) ls.push_back(k.get<std::string>());
      for (const auto& l : ls) {
        auto eq = l.find('=');
        std::string k = l.substr(0, eq);
        all &= n.labels.is_object() && n.labels.contains(k) &&
               (eq == std::string::npos || n.labels[k] == l.substr(eq + 1));
      }
      if (!all) continue;
    }
    out.push_back(network_json(store, n));
  }
  conn.json(200, out);
}

void network_inspect(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  conn.json(200, network_json(store, find_network(store, p.at("id"))));
}

void network_remove(manager::Store& store, const Request&, Conn& conn, const Params& p) {
  auto n = find_network(store, p.at("id"));
  if (n.name == manager::kDefaultNetwork)
    throw ApiError(403, "bridge is a pre-defined network and cannot be removed");
  if (!store.network_users(n.name).empty())
    throw ApiError(409, "error while removing network: network " + n.name + " id " + n.id +
                            " has active endpoints");
  manager::remove_network(store, n.name, false);
  conn.empty(204);
}

void network_connect(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto n = find_network(store, p.at("id"));
  std::string c = req.json_body().value("Container", "");
  if (!store.find_container(c)) throw ApiError(404, "No such container: " + c);
  manager::connect_network(store, c, n.name);
  conn.empty(200);
}

void network_disconnect(manager::Store& store, const Request& req, Conn& conn, const Params& p) {
  auto n = find_network(store, p.at("id"));
  std::string c = req.json_body().value("Container", "");
  if (!store.find_container(c)) throw ApiError(404, "No such container: " + c);
  manager::disconnect_network(store, c, n.name);
  conn.empty(200);
}

void network_prune(manager::Store& store, const Request&, Conn& conn, const Params&) {
  json deleted = json::array();
  for (const auto& n : store.networks()) {
    if (n.name == manager::kDefaultNetwork || !store.network_users(n.name).empty()) continue;
    manager::remove_network(store, n.name, false);
    deleted.push_back(n.name);
  }
  conn.json(200, {{"NetworksDeleted", deleted}});
}

}  // namespace

void add_object_routes(std::vector<Route>& r) {
  r.push_back({"POST", "/volumes/create", volume_create});
  r.push_back({"GET", "/volumes", volume_list});
  r.push_back({"POST", "/volumes/prune", volume_prune});
  r.push_back({"GET", "/volumes/{name}", volume_inspect});
  r.push_back({"DELETE", "/volumes/{name}", volume_remove});
  r.push_back({"POST", "/networks/create", network_create});
  r.push_back({"GET", "/networks", network_list});
  r.push_back({"POST", "/networks/prune", network_prune});
  r.push_back({"GET", "/networks/{id}", network_inspect});
  r.push_back({"DELETE", "/networks/{id}", network_remove});
  r.push_back({"POST", "/networks/{id}/connect", network_connect});
  r.push_back({"POST", "/networks/{id}/disconnect", network_disconnect});
}

}  // namespace vessel::api
