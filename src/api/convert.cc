#include "api/convert.h"

#include <algorithm>
#include <ctime>

#include "api/http.h"
#include "manager/containers.h"
#include "manager/networks.h"
#include "util/file.h"

namespace vessel::api {

using manager::ContainerRecord;
using manager::RunOptions;
using manager::VolumeOption;
using nlohmann::json;

bool is_live(const std::string& s) { return s == "running" || s == "paused" || s == "restarting"; }

int64_t unix_time(const std::string& t) {
  if (t.size() < 19) return 0;
  std::tm tm{};
  if (!strptime(t.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string docker_time(const std::string& t) { return t.empty() ? "0001-01-01T00:00:00Z" : t; }

namespace {

std::string ago(const std::string& t) {
  int64_t secs = static_cast<int64_t>(std::time(nullptr)) - unix_time(t);
  if (secs < 1) return "Less than a second";
  if (secs < 60) return std::to_string(secs) + " seconds";
  if (secs < 3600) return std::to_string(secs / 60) + " minutes";
  if (secs < 2 * 86400) return std::to_string(secs / 3600) + " hours";
  return std::to_string(secs / 86400) + " days";
}

std::vector<std::string> strings(const json& j, const std::string& field) {
  if (j.is_null()) return {};
  if (j.is_string()) return {j.get<std::string>()};
  if (!j.is_array()) throw ApiError(400, field + ": expected a list of strings");
  std::vector<std::string> out;
  for (const auto& s : j) {
    if (!s.is_string()) throw ApiError(400, field + ": expected a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

template <typename T>
T num(const json& obj, const char* key, T def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_number()) throw ApiError(400, std::string(key) + ": expected a number");
  return it->get<T>();
}

std::string str(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) throw ApiError(400, std::string(key) + ": expected a string");
  return it->get<std::string>();
}

bool flag(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw ApiError(400, std::string(key) + ": expected true or false");
  return it->get<bool>();
}

void add_port_bindings(const json& pb, RunOptions& o) {
  if (pb.is_null()) return;
  if (!pb.is_object()) throw ApiError(400, "HostConfig.PortBindings: expected an object");
  for (const auto& [key, list] : pb.items()) {
    auto slash = key.find('/');
    std::string port = key.substr(0, slash);
    std::string proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
    int cport = 0;
    try {
      cport = std::stoi(port);
    } catch (const std::exception&) {
    }
    if (cport <= 0 || cport > 65535)
      throw ApiError(400, "HostConfig.PortBindings: invalid port \"" + key + "\"");
    std::vector<json> bindings;
    if (list.is_array() && !list.empty())
      bindings.assign(list.begin(), list.end());
    else
      bindings.push_back(json::object());
    for (const auto& b : bindings) {
      network::PortMapping m;
      m.container_port = static_cast<uint16_t>(cport);
      m.protocol = proto;
      m.host_ip = b.is_object() ? str(b, "HostIp") : "";
      std::string hp = b.is_object() ? str(b, "HostPort") : "";
      if (!hp.empty()) {
        int h = 0;
        try {
          h = std::stoi(hp);
        } catch (const std::exception&) {
        }
        if (h <= 0 || h > 65535)
          throw ApiError(400, "HostConfig.PortBindings: invalid host port \"" + hp + "\"");
        m.host_port = static_cast<uint16_t>(h);
      }
      o.publish.push_back(m);
    }
  }
}

VolumeOption mount_from(const json& m) {
  VolumeOption v;
  v.type = str(m, "Type");
  v.source = str(m, "Source");
  v.target = str(m, "Target");
  v.readonly = flag(m, "ReadOnly");
  if (v.target.empty() || v.target[0] != '/')
    throw ApiError(400, "HostConfig.Mounts: Target must be an absolute path");
  if (v.type == "tmpfs") {
    v.source.clear();
    auto t = m.value("TmpfsOptions", json::object());
    if (t.is_object()) {
      if (num<int64_t>(t, "SizeBytes", 0) > 0)
        v.options.push_back("size=" + std::to_string(num<int64_t>(t, "SizeBytes", 0)));
      if (num<int64_t>(t, "Mode", 0) > 0) {
        char mode[16];
        std::snprintf(mode, sizeof mode, "mode=%llo",
                      static_cast<unsigned long long>(num<int64_t>(t, "Mode", 0)));
        v.options.push_back(mode);
      }
    }
  } else if (v.type == "volume") {
    if (v.source.empty()) {
      v.source = manager::random_hex_id();
      v.options.push_back("anonymous");
    }
  } else if (v.type == "bind") {
    if (v.source.empty() || v.source[0] != '/')
      throw ApiError(400, "HostConfig.Mounts: a bind mount's Source must be an absolute path");
  } else {
    throw ApiError(400, "HostConfig.Mounts: unsupported mount type \"" + v.type + "\"");
  }
  return v;
}

}  // namespace

RunOptions run_options_from(const json& body, const std::string& name) {
  if (!body.is_object()) throw ApiError(400, "the container config must be a JSON object");
  RunOptions o;
  try {
    o.name = name;
    if (!o.name.empty() && o.name[0] == '/') o.name = o.name.substr(1);
    o.image = str(body, "Image");
    if (o.image.empty()) throw ApiError(400, "config: Image is required");
    o.command = strings(body.value("Cmd", json()), "Cmd");
    if (body.contains("Entrypoint") && !body["Entrypoint"].is_null()) {
      auto ep = strings(body["Entrypoint"], "Entrypoint");
      if (ep.size() == 1 && ep[0].empty()) ep.clear();
      o.entrypoint = ep;
    }
    o.env = strings(body.value("Env", json()), "Env");
    o.workdir = str(body, "WorkingDir");
    o.user = str(body, "User");
    o.hostname = str(body, "Hostname");
    o.tty = flag(body, "Tty");
    o.interactive = flag(body, "OpenStdin");
    o.detach = !flag(body, "AttachStdout") && !flag(body, "AttachStderr");
    o.stop_signal = str(body, "StopSignal");
    o.stop_timeout = num<int>(body, "StopTimeout", 10);
    if (body.contains("Labels") && body["Labels"].is_object())
      for (const auto& [k, v] : body["Labels"].items())
        o.labels[k] = v.is_string() ? v.get<std::string>() : v.dump();

    json hc = body.value("HostConfig", json::object());
    if (hc.is_null()) hc = json::object();
    for (const auto& b : strings(hc.value("Binds", json()), "HostConfig.Binds"))
      o.volumes.push_back(manager::parse_volume(b));
    if (hc.contains("Mounts") && hc["Mounts"].is_array())
      for (const auto& m : hc["Mounts"]) o.volumes.push_back(mount_from(m));
    if (hc.contains("Tmpfs") && hc["Tmpfs"].is_object())
      for (const auto& [path, opts] : hc["Tmpfs"].items()) {
        std::string o2 = opts.is_string() ? opts.get<std::string>() : "";
        o.volumes.push_back(manager::parse_tmpfs(o2.empty() ? path : path + ":" + o2));
      }
    add_port_bindings(hc.value("PortBindings", json()), o);
    std::string mode = str(hc, "NetworkMode");
    if (!mode.empty() && mode != "default" && mode != "bridge") o.networks.push_back(mode);
    if (num<int64_t>(hc, "Memory", 0) > 0) o.memory = num<int64_t>(hc, "Memory", 0);
    if (num<int64_t>(hc, "MemorySwap", 0) != 0) o.memory_swap = num<int64_t>(hc, "MemorySwap", 0);
    if (num<int64_t>(hc, "NanoCpus", 0) > 0) o.cpus = num<int64_t>(hc, "NanoCpus", 0) / 1e9;
    if (num<int64_t>(hc, "CpuQuota", 0) > 0 && num<int64_t>(hc, "CpuPeriod", 0) > 0)
      o.cpus = static_cast<double>(num<int64_t>(hc, "CpuQuota", 0)) /
               static_cast<double>(num<int64_t>(hc, "CpuPeriod", 0));
    if (num<int64_t>(hc, "CpuShares", 0) > 0) o.cpu_shares = num<uint64_t>(hc, "CpuShares", 0);
    o.cpuset_cpus = str(hc, "CpusetCpus");
    if (num<int64_t>(hc, "PidsLimit", 0) > 0) o.pids_limit = num<int64_t>(hc, "PidsLimit", 0);
    if (num<int64_t>(hc, "BlkioWeight", 0) > 0)
      o.blkio_weight = num<uint16_t>(hc, "BlkioWeight", 0);
    if (hc.contains("Devices") && hc["Devices"].is_array())
      for (const auto& d : hc["Devices"]) {
        std::string spec = str(d, "PathOnHost");
        std::string in = str(d, "PathInContainer");
        std::string perms = str(d, "CgroupPermissions");
        spec += ":" + (in.empty() ? str(d, "PathOnHost") : in);
        if (!perms.empty()) spec += ":" + perms;
        o.devices.push_back(spec);
      }
    if (hc.contains("Ulimits") && hc["Ulimits"].is_array())
      for (const auto& u : hc["Ulimits"])
        o.ulimits.push_back(str(u, "Name") + "=" + std::to_string(num<int64_t>(u, "Soft", 0)) +
                            ":" + std::to_string(num<int64_t>(u, "Hard", 0)));
    o.cap_add = strings(hc.value("CapAdd", json()), "HostConfig.CapAdd");
    o.cap_drop = strings(hc.value("CapDrop", json()), "HostConfig.CapDrop");
    o.privileged = flag(hc, "Privileged");
    o.security_opt = strings(hc.value("SecurityOpt", json()), "HostConfig.SecurityOpt");
    o.read_only = flag(hc, "ReadonlyRootfs");
    o.remove = flag(hc, "AutoRemove");
    o.init = flag(hc, "Init");
    o.dns = strings(hc.value("Dns", json()), "HostConfig.Dns");
    o.dns_search = strings(hc.value("DnsSearch", json()), "HostConfig.DnsSearch");
    o.dns_options = strings(hc.value("DnsOptions", json()), "HostConfig.DnsOptions");
    o.add_hosts = strings(hc.value("ExtraHosts", json()), "HostConfig.ExtraHosts");
    for (const auto& h : o.add_hosts) manager::parse_add_host(h);
    json rp = hc.value("RestartPolicy", json::object());
    if (rp.is_object()) {
      std::string pol = str(rp, "Name");
      if (!pol.empty() && pol != "no") {
        int max = num<int>(rp, "MaximumRetryCount", 0);
        manager::parse_restart(
            pol == "on-failure" && max > 0 ? pol + ":" + std::to_string(max) : pol, o);
      }
    }
    if (o.remove && o.restart != "no")
      throw ApiError(400, "conflicting options: AutoRemove and RestartPolicy " + o.restart);
    json lc = hc.value("LogConfig", json::object());
    std::string driver = lc.is_object() ? str(lc, "Type") : "";
    if (!driver.empty() && driver != "json-file" && driver != "local" && driver != "k8s-file")
      throw ApiError(400, "HostConfig.LogConfig: log driver \"" + driver +
                              "\" is not supported (vessel keeps json-file logs)");
    // NetworkingConfig.EndpointsConfig.NET.Aliases (compose gives each container its service's
    // name): more names for the container in its peers' /etc/hosts.
    json nc = body.value("NetworkingConfig", json::object());
    json eps = nc.is_object() ? nc.value("EndpointsConfig", json::object()) : json::object();
    if (eps.is_object())
      for (auto& [net, ep] : eps.items()) {
        if (!ep.is_object()) continue;
        for (const auto& a : strings(ep.value("Aliases", json()),
                                     "NetworkingConfig.EndpointsConfig." + net + ".Aliases"))
          if (std::find(o.network_aliases.begin(), o.network_aliases.end(), a) ==
              o.network_aliases.end())
            o.network_aliases.push_back(a);
      }
  } catch (const nlohmann::json::exception& e) {
    throw ApiError(400, std::string("invalid container config: ") + e.what());
  }
  return o;
}

std::string status_text(const ContainerRecord& c) {
  if (c.state == "running") return "Up " + ago(c.started_at);
  if (c.state == "paused") return "Up " + ago(c.started_at) + " (Paused)";
  if (c.state == "restarting")
    return "Restarting (" + std::to_string(c.exit_code) + ") " + ago(c.finished_at) + " ago";
  if (c.state == "exited")
    return "Exited (" + std::to_string(c.exit_code) + ") " + ago(c.finished_at) + " ago";
  if (c.state == "created") return "Created";
  return c.state;
}

namespace {

json network_block(manager::Store& store, const ContainerRecord& c) {
  json ns = json::object();
  try {
    ns = manager::network_settings(store, c);
  } catch (const std::exception&) {
  }
  json nets = ns.value("Networks", json::object());
  json out = json::object();
  for (auto& [name, n] : nets.items()) {
    json e = n;
    std::string nid;
    try {
      nid = manager::find_network_or_fail(store, name).id;
    } catch (const std::exception&) {
    }
    e["NetworkID"] = nid;
    e["EndpointID"] = "";
    e["Aliases"] = json::array({c.name, manager::short_id(c.id)});
    for (const auto& a : c.options.value("network_aliases", json::array()))
      e["Aliases"].push_back(a);
    e["Links"] = nullptr;
    e["IPAMConfig"] = nullptr;
    e["GlobalIPv6Address"] = "";
    e["GlobalIPv6PrefixLen"] = 0;
    e["IPv6Gateway"] = "";
    e["DriverOpts"] = nullptr;
    for (const char* k : {"IPAddress", "Gateway", "MacAddress"})
      if (!e.contains(k)) e[k] = "";
    if (!e.contains("IPPrefixLen")) e["IPPrefixLen"] = 0;
    out[name] = e;
  }
  std::string mode = c.options.value("network", "");
  if (mode == "none" || mode == "host")
    out[mode] = {{"NetworkID", mode}, {"EndpointID", ""}, {"IPAddress", ""},   {"Gateway", ""},
                 {"IPPrefixLen", 0},  {"MacAddress", ""}, {"Aliases", nullptr}};
  return out;
}

}  // namespace

json container_inspect(manager::Store& store, const ContainerRecord& c) {
  json spec = json::object();
  try {
    spec = json::parse(read_file(manager::container_dir(store, c.id) + "/config.json"));
  } catch (const std::exception&) {
  }
  json proc = spec.value("process", json::object());
  json args = proc.value("args", json::array());
  const json& o = c.options;
  std::string dir = manager::container_dir(store, c.id);
  json mounts = json::array();
  json binds = json::array();
  for (const auto& v : o.value("volumes", json::array())) {
    std::string type = v.value("type", "");
    json m = {{"Type", type},
              {"Source", v.value("source", "")},
              {"Destination", v.value("target", "")},
              {"Mode", v.value("readonly", false) ? "ro" : ""},
              {"RW", !v.value("readonly", false)},
              {"Propagation", type == "bind" ? "rprivate" : ""}};
    if (type == "bind")
      binds.push_back(v.value("source", "") + ":" + v.value("target", "") +
                      (v.value("readonly", false) ? ":ro" : ""));
    if (type == "volume") {
      m["Name"] = v.value("source", "");
      m["Driver"] = "local";
      if (auto vol = store.volume(v.value("source", ""))) m["Source"] = vol->mountpoint;
    }
    mounts.push_back(m);
  }
  json ns = json::object();
  try {
    ns = manager::network_settings(store, c);
  } catch (const std::exception&) {
  }
  json nets = network_block(store, c);
  json first = nets.empty() ? json::object() : nets.begin().value();
  json port_bindings = json::object();
  json exposed = json::object();
  for (const auto& p : o.value("publish", json::array())) {
    std::string key = std::to_string(p.value("container_port", 0)) + "/" +
                      p.value("protocol", std::string("tcp"));
    exposed[key] = json::object();
    uint16_t hp = p.value("host_port", uint16_t{0});
    port_bindings[key].push_back(
        {{"HostIp", p.value("host_ip", "")}, {"HostPort", hp ? std::to_string(hp) : ""}});
  }
  std::string mode = o.value("network", "");
  if (mode == "bridge") {
    auto names = o.value("networks", std::vector<std::string>{});
    mode = names.empty() || names[0] == manager::kDefaultNetwork ? "bridge" : names[0];
  }
  json res = spec.value("linux", json::object()).value("resources", json::object());
  int64_t memory = o.value("memory", json()).is_number() ? o["memory"].get<int64_t>() : 0;
  double cpus = o.value("cpus", json()).is_number() ? o["cpus"].get<double>() : 0;
  int64_t pids = o.value("pids_limit", json()).is_number() ? o["pids_limit"].get<int64_t>() : 0;
  bool running = c.state == "running" || c.state == "paused" || c.state == "restarting";
  json entrypoint =
      o.contains("entrypoint") && !o["entrypoint"].is_null() ? o["entrypoint"] : json(nullptr);
  return {
      {"Id", c.id},
      {"Created", c.created},
      {"Path", args.empty() ? "" : args[0].get<std::string>()},
      {"Args",
       args.size() > 1 ? json(std::vector<json>(args.begin() + 1, args.end())) : json::array()},
      {"State",
       {{"Status", c.state == "creating" ? "created" : c.state},
        {"Running", running},
        {"Paused", c.state == "paused"},
        {"Restarting", c.state == "restarting"},
        {"OOMKilled", manager::oom_killed(store, c.id)},
        {"Dead", false},
        {"Pid", running ? c.pid : 0},
        {"ExitCode", c.exit_code},
        {"Error", c.error},
        {"StartedAt", docker_time(c.started_at)},
        {"FinishedAt", docker_time(c.finished_at)}}},
      {"Image", "sha256:" + c.image_id},
      {"ResolvConfPath", dir + "/etc/resolv.conf"},
      {"HostnamePath", dir + "/etc/hostname"},
      {"HostsPath", dir + "/etc/hosts"},
      {"LogPath", manager::log_path(store, c.id)},
      {"Name", "/" + c.name},
      {"RestartCount", c.restart_count},
      {"Driver", "overlay2"},
      {"Platform", "linux"},
      {"MountLabel", ""},
      {"ProcessLabel", ""},
      {"AppArmorProfile", ""},
      {"ExecIDs", nullptr},
      {"HostConfig",
       {{"Binds", binds},
        {"NetworkMode", mode.empty() ? "default" : mode},
        {"PortBindings", port_bindings},
        {"RestartPolicy",
         {{"Name", o.value("restart", "no")}, {"MaximumRetryCount", o.value("restart_max", 0)}}},
        {"AutoRemove", o.value("remove", false)},
        {"Privileged", o.value("privileged", false)},
        {"ReadonlyRootfs", o.value("read_only", false)},
        {"CapAdd", o.value("cap_add", json::array())},
        {"CapDrop", o.value("cap_drop", json::array())},
        {"SecurityOpt", o.value("security_opt", json::array())},
        {"Init", o.value("init", false)},
        {"Memory", memory},
        {"NanoCpus", static_cast<int64_t>(cpus * 1e9)},
        {"PidsLimit", pids},
        {"Dns", o.value("dns", json::array())},
        {"ExtraHosts", o.value("add_hosts", json::array())},
        {"LogConfig", {{"Type", "json-file"}, {"Config", json::object()}}},
        {"Resources", res}}},
      {"GraphDriver", {{"Name", "overlay2"}, {"Data", {{"UpperDir", dir + "/upper"}}}}},
      {"Mounts", mounts},
      {"Config",
       {{"Hostname", spec.value("hostname", "")},
        {"Domainname", ""},
        {"User", o.value("user", "")},
        {"AttachStdin", false},
        {"AttachStdout", !o.value("detach", false)},
        {"AttachStderr", !o.value("detach", false)},
        {"ExposedPorts", exposed},
        {"Tty", o.value("tty", false)},
        {"OpenStdin", o.value("interactive", false)},
        {"StdinOnce", false},
        {"Env", proc.value("env", json::array())},
        {"Cmd", o.value("command", json::array())},
        {"Image", o.value("image", c.image_name)},
        {"Volumes", nullptr},
        {"WorkingDir", proc.value("cwd", "/")},
        {"Entrypoint", entrypoint},
        {"OnBuild", nullptr},
        {"Labels", o.value("labels", json::object())},
        {"StopSignal", spec.value("annotations", json::object())
                           .value("org.opencontainers.image.stopSignal", "SIGTERM")},
        {"StopTimeout", o.value("stop_timeout", 10)}}},
      {"NetworkSettings",
       {{"Bridge", ""},
        {"SandboxID", ""},
        {"HairpinMode", false},
        {"LinkLocalIPv6Address", ""},
        {"LinkLocalIPv6PrefixLen", 0},
        {"Ports", ns.value("Ports", json::object())},
        {"SandboxKey", ns.value("SandboxKey", "")},
        {"SecondaryIPAddresses", nullptr},
        {"SecondaryIPv6Addresses", nullptr},
        {"EndpointID", ""},
        {"Gateway", first.value("Gateway", "")},
        {"GlobalIPv6Address", ""},
        {"GlobalIPv6PrefixLen", 0},
        {"IPAddress", first.value("IPAddress", "")},
        {"IPPrefixLen", first.value("IPPrefixLen", 0)},
        {"IPv6Gateway", ""},
        {"MacAddress", first.value("MacAddress", "")},
        {"Networks", nets}}},
  };
}

json container_summary(manager::Store& store, const ContainerRecord& c) {
  json ins = container_inspect(store, c);
  std::string cmd;
  for (const auto& a : ins["Path"].is_string() ? json::array({ins["Path"]}) : json::array())
    cmd += a.get<std::string>();
  for (const auto& a : ins["Args"]) cmd += " " + a.get<std::string>();
  json ports = json::array();
  for (const auto& p : c.options.value("publish", json::array())) {
    json e = {{"PrivatePort", p.value("container_port", 0)},
              {"Type", p.value("protocol", std::string("tcp"))}};
    if (p.value("host_port", 0) != 0) {
      e["PublicPort"] = p.value("host_port", 0);
      e["IP"] = p.value("host_ip", "").empty() ? "0.0.0.0" : p.value("host_ip", "");
    }
    ports.push_back(e);
  }
  return {{"Id", c.id},
          {"Names", {"/" + c.name}},
          {"Image", c.options.value("image", c.image_name)},
          {"ImageID", "sha256:" + c.image_id},
          {"Command", cmd},
          {"Created", unix_time(c.created)},
          {"Ports", ports},
          {"Labels", c.options.value("labels", json::object())},
          {"State", ins["State"]["Status"]},
          {"Status", status_text(c)},
          {"HostConfig", {{"NetworkMode", ins["HostConfig"]["NetworkMode"]}}},
          {"NetworkSettings", {{"Networks", ins["NetworkSettings"]["Networks"]}}},
          {"Mounts", ins["Mounts"]}};
}

}  // namespace vessel::api
