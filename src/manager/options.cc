#include "manager/options.h"

#include <arpa/inet.h>

#include <cctype>

#include "util/error.h"

namespace vessel::manager {

using nlohmann::json;

void to_json(json& j, const VolumeOption& v) {
  j = {{"type", v.type},
       {"source", v.source},
       {"target", v.target},
       {"readonly", v.readonly},
       {"options", v.options}};
}
void from_json(const json& j, VolumeOption& v) {
  v.type = j.value("type", "bind");
  v.source = j.value("source", "");
  v.target = j.value("target", "");
  v.readonly = j.value("readonly", false);
  v.options = j.value("options", std::vector<std::string>{});
}

void to_json(json& j, const RunOptions& o) {
  j = json{{"image", o.image},
           {"command", o.command},
           {"name", o.name},
           {"detach", o.detach},
           {"interactive", o.interactive},
           {"tty", o.tty},
           {"remove", o.remove},
           {"env", o.env},
           {"workdir", o.workdir},
           {"user", o.user},
           {"hostname", o.hostname},
           {"volumes", o.volumes},
           {"read_only", o.read_only},
           {"cpuset_cpus", o.cpuset_cpus},
           {"devices", o.devices},
           {"cap_add", o.cap_add},
           {"cap_drop", o.cap_drop},
           {"privileged", o.privileged},
           {"security_opt", o.security_opt},
           {"ulimits", o.ulimits},
           {"log_max_size", o.log_max_size},
           {"log_max_files", o.log_max_files},
           {"stop_signal", o.stop_signal},
           {"stop_timeout", o.stop_timeout},
           {"restart", o.restart},
           {"restart_max", o.restart_max},
           {"init", o.init},
           {"labels", o.labels},
           {"network", o.network},
           {"networks", o.networks},
           {"publish", o.publish},
           {"publish_all", o.publish_all},
           {"network_aliases", o.network_aliases},
           {"connect_aliases", o.connect_aliases},
           {"dns", o.dns},
           {"dns_search", o.dns_search},
           {"dns_options", o.dns_options},
           {"add_hosts", o.add_hosts},
           {"userns", o.userns}};
  if (!o.runtime.empty()) j["runtime"] = o.runtime;
  if (o.entrypoint) j["entrypoint"] = *o.entrypoint;
  if (o.memory) j["memory"] = *o.memory;
  if (o.memory_swap) j["memory_swap"] = *o.memory_swap;
  if (o.cpus) j["cpus"] = *o.cpus;
  if (o.cpu_shares) j["cpu_shares"] = *o.cpu_shares;
  if (o.pids_limit) j["pids_limit"] = *o.pids_limit;
  if (o.blkio_weight) j["blkio_weight"] = *o.blkio_weight;
  if (!o.healthcheck.is_null()) j["healthcheck"] = o.healthcheck;
}

template <typename T>
static void opt(const json& j, const char* key, std::optional<T>& out) {
  if (j.contains(key) && !j[key].is_null()) out = j[key].get<T>();
}

void from_json(const json& j, RunOptions& o) {
  o.image = j.value("image", "");
  o.command = j.value("command", std::vector<std::string>{});
  opt(j, "entrypoint", o.entrypoint);
  o.name = j.value("name", "");
  o.detach = j.value("detach", false);
  o.interactive = j.value("interactive", false);
  o.tty = j.value("tty", false);
  o.remove = j.value("remove", false);
  o.env = j.value("env", std::vector<std::string>{});
  o.workdir = j.value("workdir", "");
  o.user = j.value("user", "");
  o.hostname = j.value("hostname", "");
  o.volumes = j.value("volumes", std::vector<VolumeOption>{});
  o.read_only = j.value("read_only", false);
  opt(j, "memory", o.memory);
  opt(j, "memory_swap", o.memory_swap);
  opt(j, "cpus", o.cpus);
  opt(j, "cpu_shares", o.cpu_shares);
  o.cpuset_cpus = j.value("cpuset_cpus", "");
  opt(j, "pids_limit", o.pids_limit);
  opt(j, "blkio_weight", o.blkio_weight);
  o.devices = j.value("devices", std::vector<std::string>{});
  o.cap_add = j.value("cap_add", std::vector<std::string>{});
  o.cap_drop = j.value("cap_drop", std::vector<std::string>{});
  o.privileged = j.value("privileged", false);
  o.security_opt = j.value("security_opt", std::vector<std::string>{});
  o.ulimits = j.value("ulimits", std::vector<std::string>{});
  o.log_max_size = j.value("log_max_size", int64_t{0});
  o.log_max_files = j.value("log_max_files", 0);
  o.stop_signal = j.value("stop_signal", "");
  o.stop_timeout = j.value("stop_timeout", 10);
  o.restart = j.value("restart", "no");
  o.restart_max = j.value("restart_max", 0);
  o.init = j.value("init", false);
  o.labels = j.value("labels", std::map<std::string, std::string>{});
  o.network = j.value("network", "none");  // records from before networks were added
  o.networks = j.value("networks", std::vector<std::string>{});
  o.publish = j.value("publish", std::vector<network::PortMapping>{});
  o.publish_all = j.value("publish_all", false);
  o.network_aliases = j.value("network_aliases", std::vector<std::string>{});
  o.connect_aliases =
      j.value("connect_aliases", std::map<std::string, std::vector<std::string>>{});
  o.dns = j.value("dns", std::vector<std::string>{});
  o.dns_search = j.value("dns_search", std::vector<std::string>{});
  o.dns_options = j.value("dns_options", std::vector<std::string>{});
  o.add_hosts = j.value("add_hosts", std::vector<std::string>{});
  o.userns = j.value("userns", "host");
  o.runtime = j.value("runtime", "");
  o.healthcheck = j.value("healthcheck", json());
}

int64_t parse_size(const std::string& flag, const std::string& value) {
  auto bad = [&]() -> int64_t {
    fail("invalid value \"{}\" for {}: expected a size such as 64m, 512k or 1g (b, k, m, g)", value,
         flag);
  };
  if (value.empty()) bad();
  if (value == "-1") return -1;
  size_t i = 0;
  while (i < value.size() && std::isdigit(static_cast<unsigned char>(value[i]))) ++i;
  if (i == 0) bad();
  std::string num = value.substr(0, i);
  std::string unit = value.substr(i);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (unit.size() == 2 && unit[1] == 'b' && unit[0] != 'b') unit.pop_back();  // "mb" -> "m"
  int64_t mult;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k")
    mult = 1024;
  else if (unit == "m")
    mult = 1024 * 1024;
  else if (unit == "g")
    mult = 1024LL * 1024 * 1024;
  else
    bad();
  if (num.size() > 15) bad();
  int64_t n = std::stoll(num);
  if (n > INT64_MAX / mult) bad();
  return n * mult;
}

static std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

static void require_absolute(const std::string& flag, const std::string& spec,
                             const std::string& path) {
  if (path.empty() || path[0] != '/')
    fail("invalid {} \"{}\": the container path \"{}\" must be absolute", flag, spec, path);
}

std::pair<std::string, std::string> parse_add_host(const std::string& spec) {
  // NAME:IP, where an IPv6 address has colons of its own: split at the first one.
  size_t colon = spec.find(':');
  std::string name = colon == std::string::npos ? "" : spec.substr(0, colon);
  std::string ip = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (name.empty() || ip.empty() || name.find_first_of(" \t#") != std::string::npos)
    fail("invalid --add-host \"{}\": expected NAME:IP", spec);
  unsigned char buf[16];
  if (ip != "host-gateway" && ::inet_pton(AF_INET, ip.c_str(), buf) != 1 &&
      ::inet_pton(AF_INET6, ip.c_str(), buf) != 1)
    fail("invalid --add-host \"{}\": \"{}\" is not an IP address (or host-gateway)", spec, ip);
  return {name, ip};
}

void validate_name(const std::string& what, const std::string& name) {
  bool ok =
      !name.empty() && name.size() <= 128 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-')
      ok = false;
  if (!ok)
    fail("invalid {} \"{}\": use letters, digits, '_', '.', '-', starting with a letter or digit",
         what, name);
}

VolumeOption parse_volume(const std::string& spec) {
  auto parts = split(spec, ':');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    fail("invalid -v \"{}\": expected SOURCE:TARGET[:OPTIONS] (a host path or volume name)", spec);
  VolumeOption v;
  v.source = parts[0];
  v.target = parts[1];
  v.type = v.source[0] == '/' ? "bind" : "volume";
  if (v.type == "volume") validate_name("volume name in -v", v.source);
  require_absolute("-v", spec, v.target);
  if (parts.size() == 3) {
    for (const auto& o : split(parts[2], ',')) {
      if (o == "ro")
        v.readonly = true;
      else if (o == "rw")
        v.readonly = false;
      else if (o == "z" || o == "Z") {  // SELinux relabel: nothing to do without SELinux
      } else if (o == "rbind" || o == "bind" || o == "private" || o == "rprivate" ||
                 o == "shared" || o == "rshared" || o == "slave" || o == "rslave" ||
                 o == "nosuid" || o == "nodev" || o == "noexec" || o == "suid" || o == "dev" ||
                 o == "exec")
        v.options.push_back(o);
      else
        fail(
            "invalid -v \"{}\": unknown option \"{}\" (ro, rw, z, Z, nosuid, nodev, noexec, "
            "propagation)",
            spec, o);
    }
  }
  return v;
}

VolumeOption parse_mount(const std::string& spec) {
  VolumeOption v;
  v.type = "volume";
  bool have_type = false;
  for (const auto& kv : split(spec, ',')) {
    auto eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (key == "type") {
      if (val != "bind" && val != "volume" && val != "tmpfs")
        fail("invalid --mount \"{}\": type must be bind, volume or tmpfs", spec);
      v.type = val;
      have_type = true;
    } else if (key == "source" || key == "src") {
      v.source = val;
    } else if (key == "target" || key == "destination" || key == "dst") {
      v.target = val;
    } else if (key == "readonly" || key == "ro") {
      v.readonly = val.empty() || val == "true" || val == "1";
    } else if (key == "tmpfs-size") {
      v.options.push_back("size=" + std::to_string(parse_size("--mount tmpfs-size", val)));
    } else if (key == "tmpfs-mode") {
      v.options.push_back("mode=" + val);
    } else {
      fail("invalid --mount \"{}\": unknown key \"{}\"", spec, key);
    }
  }
  if (!have_type) fail("invalid --mount \"{}\": type= is required", spec);
  require_absolute("--mount", spec, v.target);
  if (v.type == "bind" && (v.source.empty() || v.source[0] != '/'))
    fail("invalid --mount \"{}\": a bind mount needs an absolute source=", spec);
  if (v.type == "volume") {
    if (v.source.empty()) fail("invalid --mount \"{}\": a volume mount needs source=NAME", spec);
    validate_name("volume name in --mount", v.source);
  }
  return v;
}

VolumeOption parse_tmpfs(const std::string& spec) {
  VolumeOption v;
  v.type = "tmpfs";
  auto colon = spec.find(':');
  v.target = spec.substr(0, colon);
  require_absolute("--tmpfs", spec, v.target);
  if (colon != std::string::npos)
    for (const auto& o : split(spec.substr(colon + 1), ','))
      if (!o.empty()) v.options.push_back(o);
  return v;
}

void parse_restart(const std::string& value, RunOptions& o) {
  auto colon = value.find(':');
  std::string policy = value.substr(0, colon);
  if (policy != "no" && policy != "on-failure" && policy != "always" && policy != "unless-stopped")
    fail("invalid --restart \"{}\": expected no, on-failure[:N], always or unless-stopped", value);
  o.restart = policy;
  o.restart_max = 0;
  if (colon != std::string::npos) {
    if (policy != "on-failure")
      fail("invalid --restart \"{}\": only on-failure takes a retry count", value);
    std::string n = value.substr(colon + 1);
    if (n.empty() || n.size() > 6 || n.find_first_not_of("0123456789") != std::string::npos)
      fail("invalid --restart \"{}\": the retry count must be a non-negative number", value);
    o.restart_max = std::stoi(n);
  }
}

}  // namespace vessel::manager
