// vessel.conf: the settings people change once (TOML). Read from /etc/vessel/vessel.conf, then
// ~/.config/vessel/vessel.conf (its keys win), or only from the file that --config or
// $VESSEL_CONFIG names. Each value remembers where it came from, for `vessel info`.
//
//   [storage]    root, runroot, driver ("overlay" | "vfs")
//   [network]    default_network (what a container joins without --network),
//                default_subnet (the subnet of the default network "vessel" when it is made)
//   [containers] ulimits (["nofile=1024:2048", …]: for names --ulimit does not give),
//                log_max_size ("10m": a container log is rotated past it),
//                userns ("host" | "auto": what a container of root gets without --userns),
//                runtime ("vessel-runtime": vessel's own, in process; or an OCI runtime program
//                such as "runc", "crun" or an absolute path, run with --root under the run dir),
//                detach_keys ("ctrl-p,ctrl-q": the keys that leave an attached terminal),
//                cdi_spec_dirs (["/etc/cdi", "/var/run/cdi"]: where CDI device specs are)
//   [registries] search (registries tried in order for a short name such as "busybox"),
//                insecure (hosts reached over plain http or unverified TLS),
//                mirrors ({"docker.io" = ["mirror.example:5000"]}: tried first for pulls)
//
// An unknown key or a bad value is an error naming the file, the line and the key.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vessel::manager {

struct ConfigValue {
  nlohmann::json value;  // string, array of strings, or object of arrays (registries.mirrors)
  std::string origin;    // "FILE:LINE", or where the caller set it ("--root", "default", …)
};

class Config {
 public:
  // Every known key with its default ("" / [] / {}: unset), origin "default".
  Config();
  // Reads one TOML file on top of what is set; throws "FILE:LINE: …" on any problem.
  void load_file(const std::string& path);
  void set(const std::string& key, nlohmann::json value, const std::string& origin);

  const ConfigValue& get(const std::string& key) const;
  std::string str(const std::string& key) const { return get(key).value.get<std::string>(); }
  std::vector<std::string> list(const std::string& key) const;
  const std::map<std::string, ConfigValue>& all() const { return values_; }
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::map<std::string, ConfigValue> values_;
  std::vector<std::string> files_;
};

// The files read when none is named: /etc/vessel/vessel.conf and the user's, those that exist.
std::vector<std::string> default_config_files();

// The process's settings (set once by the CLI after parsing its flags; defaults otherwise).
const Config& config();
void set_config(Config c);

}  // namespace vessel::manager
