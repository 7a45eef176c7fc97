// The OCI runtime-spec configuration (config.json), Linux parts, as typed values.
// parse_spec() validates as it reads and names the JSON path of any bad value.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vessel::oci {

inline constexpr const char* kSpecVersion = "1.3.0";

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
  std::string username;  // Windows only; kept for round-trips.
};

struct Rlimit {
  std::string type;  // e.g. "RLIMIT_NOFILE"
  int resource = 0;  // resolved RLIMIT_* number
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct ConsoleSize {
  unsigned height = 0;
  unsigned width = 0;
};

struct IoPriority {
  std::string clazz;  // IOPRIO_CLASS_RT | IOPRIO_CLASS_BE | IOPRIO_CLASS_IDLE
  int priority = 0;
};

struct Scheduler {
  std::string policy;  // SCHED_OTHER, SCHED_FIFO, ...
  int nice = 0;
  int priority = 0;
  std::vector<std::string> flags;
  uint64_t runtime = 0, deadline = 0, period = 0;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  std::string cwd;
  std::vector<std::string> env;
  std::vector<std::string> args;
  std::string command_line;
  User user;
  Capabilities capabilities;
  bool has_capabilities = false;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::string apparmor_profile;
  std::optional<int> oom_score_adj;
  std::string selinux_label;
  std::optional<IoPriority> io_priority;
  std::optional<Scheduler> scheduler;
  std::vector<int> exec_cpu_affinity_initial;  // unused yet
};

struct Root {
  std::string path;  // as written in config.json
  bool readonly = false;
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

struct Mount {
  std::string destination;
  std::string source;
  std::string type;
  std::vector<std::string> options;
  std::vector<IdMapping> uid_mappings, gid_mappings;  // idmapped mounts (linux/idmap.h)
};

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
};

enum class NamespaceType { pid, network, mount, ipc, uts, user, cgroup, time };

struct Namespace {
  NamespaceType type;
  std::string path;  // empty: create a new one
};

struct Device {
  std::string path;
  char type = 'c';  // c, b, u, p
  int64_t major = 0, minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid, gid;
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;
};

struct Personality {
  std::string domain;  // LINUX or LINUX32
  std::vector<std::string> flags;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, TimeOffset> time_offsets;  // "monotonic", "boottime"
  std::vector<Device> devices;
  std::string cgroups_path;
  // Kept as JSON: the cgroups layer reads what it supports and reports the rest.
  nlohmann::json resources;
  std::string rootfs_propagation;
  std::vector<std::string> masked_paths, readonly_paths;
  std::map<std::string, std::string> sysctl;
  std::string mount_label;
  nlohmann::json seccomp;  // consumed by the seccomp layer
  std::optional<Personality> personality;
  std::string intel_rdt_clos_id;
};

struct Spec {
  std::string oci_version;
  std::optional<Process> process;
  Root root;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;
  bool has_linux = false;
  nlohmann::json raw;  // the document as read

  bool has_namespace(NamespaceType t) const;
  const Namespace* find_namespace(NamespaceType t) const;
};

// Parses and validates a config.json document; errors name the JSON path ("process.args[0]").
Spec parse_spec(const std::string& text);
Spec load_spec(const std::string& bundle_dir);  // reads <bundle>/config.json

// Parses process.json for exec (same rules as "process" in config.json).
Process parse_process(const nlohmann::json& j, const std::string& path = "process");

std::string namespace_name(NamespaceType t);  // "pid", "network", ...
std::optional<NamespaceType> namespace_from_name(const std::string& name);
int namespace_clone_flag(NamespaceType t);         // CLONE_NEWPID, ...
const char* namespace_proc_name(NamespaceType t);  // "pid", "net", "mnt", ...

// The manager's starting config (runc's starter, with our defaults: a cgroup namespace, more
// masked paths).
nlohmann::json default_spec(bool rootless);
// The config.json `vessel-runtime spec` writes: runc 1.1's template (no seccomp profile). As
// runc, the caller asks for a cgroup namespace where the host has a pure cgroup v2 hierarchy.
nlohmann::json spec_template(bool rootless, bool cgroup_namespace);

}  // namespace vessel::oci
