#include "oci/spec.h"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>

#include "util/error.h"
#include "util/file.h"

namespace vessel::oci {
namespace {

using nlohmann::json;

// JSON access with the path of every value, so errors read
// "config.json: process.user.uid: expected an unsigned integer, got \"root\"".
class Field {
 public:
  Field(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  const json& value() const { return j_; }
  const std::string& path() const { return path_; }

  [[noreturn]] void bad(const std::string& why) const {
    std::string shown = j_.dump();
    if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
    fail("config.json: {}: {} (value {})", path_, why, shown);
  }

  bool has(const char* key) const { return j_.is_object() && j_.contains(key) && !j_[key].is_null(); }
  Field at(const char* key) const { return Field(j_.at(key), join(key)); }
  Field at(size_t i) const { return Field(j_.at(i), path_ + "[" + std::to_string(i) + "]"); }

  const json& object() const {
    if (!j_.is_object()) bad("expected an object");
    return j_;
  }
  const json& array() const {
    if (!j_.is_array()) bad("expected an array");
    return j_;
  }
  std::string str() const {
    if (!j_.is_string()) bad("expected a string");
    return j_.get<std::string>();
  }
  bool boolean() const {
    if (!j_.is_boolean()) bad("expected true or false");
    return j_.get<bool>();
  }
  uint64_t u64() const {
    if (!j_.is_number_unsigned() && !(j_.is_number_integer() && j_.get<int64_t>() >= 0))
      bad("expected an unsigned integer");
    return j_.get<uint64_t>();
  }
  uint32_t u32() const {
    uint64_t v = u64();
    if (v > UINT32_MAX) bad("out of range for a 32-bit unsigned integer");
    return static_cast<uint32_t>(v);
  }
  int64_t i64() const {
    if (!j_.is_number_integer()) bad("expected an integer");
    return j_.get<int64_t>();
  }
  int i32() const {
    int64_t v = i64();
    if (v < INT32_MIN || v > INT32_MAX) bad("out of range for a 32-bit integer");
    return static_cast<int>(v);
  }
  std::vector<std::string> strings() const {
    std::vector<std::string> out;
    const json& a = array();
    for (size_t i = 0; i < a.size(); ++i) out.push_back(at(i).str());
    return out;
  }

  // Optional members: absent or null means "not set".
  std::string opt_str(const char* key, std::string def = {}) const {
    return has(key) ? at(key).str() : def;
  }
  bool opt_bool(const char* key, bool def = false) const {
    return has(key) ? at(key).boolean() : def;
  }
  std::vector<std::string> opt_strings(const char* key) const {
    return has(key) ? at(key).strings() : std::vector<std::string>{};
  }

 private:
  std::string join(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  const json& j_;
  std::string path_;
};

void require_absolute(const Field& f, const std::string& p) {
  if (p.empty() || p[0] != '/') f.bad("must be an absolute path");
}

const std::map<std::string, int>& rlimit_names() {
  static const std::map<std::string, int> names = {
      {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
  };
  return names;
}

void check_version(const Field& f) {
  std::string v = f.str();
  // Accept every 1.x release up to the one we implement; a different major is not ours.
  unsigned major = 0, minor = 0, patch = 0;
  char rest[32] = {0};
  int n = sscanf(v.c_str(), "%u.%u.%u%31s", &major, &minor, &patch, rest);
  if (n < 2) f.bad("not a semantic version");
  if (major != 1) f.bad("unsupported major version (this runtime implements 1.0.0 to 1.3.x)");
  if (minor > 3)
    f.bad("newer than the runtime-spec this runtime implements (" + std::string(kSpecVersion) + ")");
}

User parse_user(const Field& f) {
  f.object();
  User u;
  if (f.has("uid")) u.uid = f.at("uid").u32();
  if (f.has("gid")) u.gid = f.at("gid").u32();
  if (f.has("umask")) u.umask = f.at("umask").u32();
  if (f.has("additionalGids")) {
    Field a = f.at("additionalGids");
    for (size_t i = 0; i < a.array().size(); ++i) u.additional_gids.push_back(a.at(i).u32());
  }
  u.username = f.opt_str("username");
  return u;
}

Capabilities parse_caps(const Field& f) {
  f.object();
  Capabilities c;
  auto one = [&](const char* key, std::vector<std::string>& out) {
    if (!f.has(key)) return;
    Field a = f.at(key);
    for (size_t i = 0; i < a.array().size(); ++i) {
      std::string name = a.at(i).str();
      if (name.rfind("CAP_", 0) != 0) a.at(i).bad("capability names start with CAP_");
      out.push_back(name);
    }
  };
  one("bounding", c.bounding);
  one("effective", c.effective);
  one("inheritable", c.inheritable);
  one("permitted", c.permitted);
  one("ambient", c.ambient);
  return c;
}

IdMapping parse_id_mapping(const Field& f) {
  f.object();
  IdMapping m;
  for (const char* k : {"containerID", "hostID", "size"})
    if (!f.has(k)) f.bad(std::string("missing \"") + k + "\"");
  m.container_id = f.at("containerID").u32();
  m.host_id = f.at("hostID").u32();
  m.size = f.at("size").u32();
  if (m.size == 0) f.at("size").bad("must be greater than zero");
  return m;
}

Hook parse_hook(const Field& f) {
  f.object();
  Hook h;
  if (!f.has("path")) f.bad("missing \"path\"");
  h.path = f.at("path").str();
  require_absolute(f.at("path"), h.path);
  h.args = f.opt_strings("args");
  h.env = f.opt_strings("env");
  if (f.has("timeout")) {
    h.timeout = f.at("timeout").i32();
    if (*h.timeout <= 0) f.at("timeout").bad("must be greater than zero");
  }
  return h;
}

std::vector<Hook> parse_hook_list(const Field& hooks, const char* key) {
  std::vector<Hook> out;
  if (!hooks.has(key)) return out;
  Field a = hooks.at(key);
  for (size_t i = 0; i < a.array().size(); ++i) out.push_back(parse_hook(a.at(i)));
  return out;
}

Device parse_device(const Field& f) {
  f.object();
  Device d;
  if (!f.has("path")) f.bad("missing \"path\"");
  d.path = f.at("path").str();
  require_absolute(f.at("path"), d.path);
  if (!f.has("type")) f.bad("missing \"type\"");
  std::string t = f.at("type").str();
  if (t != "c" && t != "b" && t != "u" && t != "p") f.at("type").bad("must be one of c, b, u, p");
  d.type = t[0];
  if (d.type != 'p') {
    if (!f.has("major") || !f.has("minor")) f.bad("character and block devices need major and minor");
    d.major = f.at("major").i64();
    d.minor = f.at("minor").i64();
  }
  if (f.has("fileMode")) d.file_mode = f.at("fileMode").u32();
  if (f.has("uid")) d.uid = f.at("uid").u32();
  if (f.has("gid")) d.gid = f.at("gid").u32();
  return d;
}

Linux parse_linux(const Field& f) {
  f.object();
  Linux l;
  if (f.has("namespaces")) {
    Field a = f.at("namespaces");
    std::vector<bool> seen(8, false);
    for (size_t i = 0; i < a.array().size(); ++i) {
      Field n = a.at(i);
      n.object();
      if (!n.has("type")) n.bad("missing \"type\"");
      auto t = namespace_from_name(n.at("type").str());
      if (!t)
        n.at("type").bad(
            "unknown namespace type (known: pid, network, mount, ipc, uts, user, cgroup, time)");
      if (seen[static_cast<size_t>(*t)]) n.at("type").bad("namespace listed twice");
      seen[static_cast<size_t>(*t)] = true;
      Namespace ns{*t, n.opt_str("path")};
      if (!ns.path.empty()) require_absolute(n.at("path"), ns.path);
      l.namespaces.push_back(ns);
    }
  }
  for (auto [key, out] : {std::pair{"uidMappings", &l.uid_mappings},
                          std::pair{"gidMappings", &l.gid_mappings}}) {
    if (!f.has(key)) continue;
    Field a = f.at(key);
    for (size_t i = 0; i < a.array().size(); ++i) out->push_back(parse_id_mapping(a.at(i)));
  }
  if (f.has("timeOffsets")) {
    Field t = f.at("timeOffsets");
    for (auto& [k, v] : t.object().items()) {
      if (k != "monotonic" && k != "boottime")
        t.bad("unknown clock \"" + k + "\" (known: monotonic, boottime)");
      Field o(v, t.path() + "." + k);
      o.object();
      TimeOffset off;
      if (o.has("secs")) off.secs = o.at("secs").i64();
      if (o.has("nanosecs")) off.nanosecs = o.at("nanosecs").u32();
      l.time_offsets[k] = off;
    }
  }
  if (f.has("devices")) {
    Field a = f.at("devices");
    for (size_t i = 0; i < a.array().size(); ++i) l.devices.push_back(parse_device(a.at(i)));
  }
  l.cgroups_path = f.opt_str("cgroupsPath");
  if (f.has("resources")) l.resources = f.at("resources").object();
  l.rootfs_propagation = f.opt_str("rootfsPropagation");
  if (!l.rootfs_propagation.empty()) {
    static const std::vector<std::string> ok = {"private", "rprivate", "shared", "rshared",
                                                "slave",   "rslave",   "unbindable", "runbindable"};
    if (std::find(ok.begin(), ok.end(), l.rootfs_propagation) == ok.end())
      f.at("rootfsPropagation").bad("unknown propagation");
  }
  l.masked_paths = f.opt_strings("maskedPaths");
  l.readonly_paths = f.opt_strings("readonlyPaths");
  for (auto* list : {&l.masked_paths, &l.readonly_paths})
    for (size_t i = 0; i < list->size(); ++i)
      if ((*list)[i].empty() || (*list)[i][0] != '/')
        f.at(list == &l.masked_paths ? "maskedPaths" : "readonlyPaths")
            .at(i)
            .bad("must be an absolute path");
  if (f.has("sysctl")) {
    Field s = f.at("sysctl");
    for (auto& [k, v] : s.object().items()) l.sysctl[k] = Field(v, s.path() + "." + k).str();
  }
  l.mount_label = f.opt_str("mountLabel");
  if (f.has("seccomp")) l.seccomp = f.at("seccomp").object();
  if (f.has("personality")) {
    Field p = f.at("personality");
    p.object();
    Personality pers;
    pers.domain = p.opt_str("domain");
    if (pers.domain != "LINUX" && pers.domain != "LINUX32")
      p.at("domain").bad("must be LINUX or LINUX32");
    pers.flags = p.opt_strings("flags");
    l.personality = pers;
  }
  if (f.has("intelRdt")) l.intel_rdt_clos_id = f.at("intelRdt").opt_str("closID");
  return l;
}

Mount parse_mount(const Field& f) {
  f.object();
  Mount m;
  if (!f.has("destination")) f.bad("missing \"destination\"");
  m.destination = f.at("destination").str();
  require_absolute(f.at("destination"), m.destination);
  m.source = f.opt_str("source");
  m.type = f.opt_str("type");
  m.options = f.opt_strings("options");
  for (auto [key, out] :
       {std::pair{"uidMappings", &m.uid_mappings}, std::pair{"gidMappings", &m.gid_mappings}}) {
    if (!f.has(key)) continue;
    Field a = f.at(key);
    for (size_t i = 0; i < a.array().size(); ++i) out->push_back(parse_id_mapping(a.at(i)));
  }
  // config.md: each of uidMappings and gidMappings MUST be given along with the other.
  if (f.has("uidMappings") != f.has("gidMappings"))
    f.at(f.has("uidMappings") ? "uidMappings" : "gidMappings")
        .bad(f.has("uidMappings") ? "must be given along with gidMappings"
                                  : "must be given along with uidMappings");
  return m;
}

}  // namespace

Process parse_process(const json& j, const std::string& path) {
  Field f(j, path);
  f.object();
  Process p;
  p.terminal = f.opt_bool("terminal");
  if (f.has("consoleSize")) {
    Field c = f.at("consoleSize");
    c.object();
    ConsoleSize cs;
    if (c.has("height")) cs.height = c.at("height").u32();
    if (c.has("width")) cs.width = c.at("width").u32();
    p.console_size = cs;
  }
  if (!f.has("cwd")) f.bad("missing \"cwd\"");
  p.cwd = f.at("cwd").str();
  require_absolute(f.at("cwd"), p.cwd);
  p.env = f.opt_strings("env");
  for (size_t i = 0; i < p.env.size(); ++i)
    if (p.env[i].find('=') == std::string::npos)
      f.at("env").at(i).bad("environment entries are KEY=value");
  p.args = f.opt_strings("args");
  p.command_line = f.opt_str("commandLine");
  if (p.args.empty()) f.bad("\"args\" must name at least the program to run");
  if (f.has("user")) p.user = parse_user(f.at("user"));
  if (f.has("capabilities")) {
    p.capabilities = parse_caps(f.at("capabilities"));
    p.has_capabilities = true;
  }
  if (f.has("rlimits")) {
    Field a = f.at("rlimits");
    for (size_t i = 0; i < a.array().size(); ++i) {
      Field r = a.at(i);
      r.object();
      Rlimit rl;
      if (!r.has("type")) r.bad("missing \"type\"");
      rl.type = r.at("type").str();
      auto it = rlimit_names().find(rl.type);
      if (it == rlimit_names().end()) r.at("type").bad("unknown rlimit");
      rl.resource = it->second;
      if (!r.has("soft") || !r.has("hard")) r.bad("rlimits need \"soft\" and \"hard\"");
      rl.soft = r.at("soft").u64();
      rl.hard = r.at("hard").u64();
      if (rl.soft > rl.hard) r.bad("soft limit is above the hard limit");
      for (const auto& prev : p.rlimits)
        if (prev.resource == rl.resource) r.at("type").bad("rlimit listed twice");
      p.rlimits.push_back(rl);
    }
  }
  p.no_new_privileges = f.opt_bool("noNewPrivileges");
  p.apparmor_profile = f.opt_str("apparmorProfile");
  if (f.has("oomScoreAdj")) {
    p.oom_score_adj = f.at("oomScoreAdj").i32();
    if (*p.oom_score_adj < -1000 || *p.oom_score_adj > 1000)
      f.at("oomScoreAdj").bad("must be between -1000 and 1000");
  }
  p.selinux_label = f.opt_str("selinuxLabel");
  if (f.has("ioPriority")) {
    Field io = f.at("ioPriority");
    io.object();
    IoPriority prio;
    prio.clazz = io.opt_str("class");
    if (prio.clazz != "IOPRIO_CLASS_RT" && prio.clazz != "IOPRIO_CLASS_BE" &&
        prio.clazz != "IOPRIO_CLASS_IDLE")
      io.at("class").bad("must be IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE");
    if (io.has("priority")) prio.priority = io.at("priority").i32();
    if (prio.priority < 0 || prio.priority > 7) io.at("priority").bad("must be between 0 and 7");
    p.io_priority = prio;
  }
  if (f.has("scheduler")) {
    Field s = f.at("scheduler");
    s.object();
    Scheduler sch;
    if (!s.has("policy")) s.bad("missing \"policy\"");
    sch.policy = s.at("policy").str();
    static const std::vector<std::string> policies = {"SCHED_OTHER", "SCHED_FIFO",  "SCHED_RR",
                                                      "SCHED_BATCH", "SCHED_ISO",   "SCHED_IDLE",
                                                      "SCHED_DEADLINE"};
    if (std::find(policies.begin(), policies.end(), sch.policy) == policies.end())
      s.at("policy").bad("unknown scheduler policy");
    if (s.has("nice")) sch.nice = s.at("nice").i32();
    if (s.has("priority")) sch.priority = s.at("priority").i32();
    sch.flags = s.opt_strings("flags");
    if (s.has("runtime")) sch.runtime = s.at("runtime").u64();
    if (s.has("deadline")) sch.deadline = s.at("deadline").u64();
    if (s.has("period")) sch.period = s.at("period").u64();
    p.scheduler = sch;
  }
  return p;
}

Spec parse_spec(const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    fail("config.json: invalid JSON: {}", e.what());
  }
  Field f(doc, "");
  if (!doc.is_object()) fail("config.json: the document must be a JSON object");
  Spec s;
  if (!f.has("ociVersion")) fail("config.json: ociVersion: missing");
  check_version(Field(doc["ociVersion"], "ociVersion"));
  s.oci_version = doc["ociVersion"].get<std::string>();
  if (f.has("process")) s.process = parse_process(doc["process"], "process");
  if (!f.has("root")) fail("config.json: root: missing (the container needs a root filesystem)");
  Field root = f.at("root");
  root.object();
  if (!root.has("path")) root.bad("missing \"path\"");
  s.root.path = root.at("path").str();
  if (s.root.path.empty()) root.at("path").bad("must not be empty");
  s.root.readonly = root.opt_bool("readonly");
  s.hostname = f.opt_str("hostname");
  s.domainname = f.opt_str("domainname");
  if (f.has("mounts")) {
    Field a = f.at("mounts");
    for (size_t i = 0; i < a.array().size(); ++i) s.mounts.push_back(parse_mount(a.at(i)));
  }
  if (f.has("hooks")) {
    Field h = f.at("hooks");
    h.object();
    s.hooks.prestart = parse_hook_list(h, "prestart");
    s.hooks.create_runtime = parse_hook_list(h, "createRuntime");
    s.hooks.create_container = parse_hook_list(h, "createContainer");
    s.hooks.start_container = parse_hook_list(h, "startContainer");
    s.hooks.poststart = parse_hook_list(h, "poststart");
    s.hooks.poststop = parse_hook_list(h, "poststop");
  }
  if (f.has("annotations")) {
    Field a = f.at("annotations");
    for (auto& [k, v] : a.object().items()) s.annotations[k] = Field(v, "annotations." + k).str();
  }
  if (f.has("linux")) {
    s.linux = parse_linux(f.at("linux"));
    s.has_linux = true;
  }
  // Cross-field rules from config-linux.md.
  bool new_user = false;
  for (const auto& ns : s.linux.namespaces)
    if (ns.type == NamespaceType::user && ns.path.empty()) new_user = true;
  if (!s.linux.uid_mappings.empty() || !s.linux.gid_mappings.empty()) {
    if (!s.has_namespace(NamespaceType::user))
      fail("config.json: linux.uidMappings: mappings need a user namespace in linux.namespaces");
  }
  if (new_user && (s.linux.uid_mappings.empty() || s.linux.gid_mappings.empty()))
    fail("config.json: linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
  if (!s.linux.time_offsets.empty() && !s.has_namespace(NamespaceType::time))
    fail("config.json: linux.timeOffsets: offsets need a time namespace in linux.namespaces");
  if (!s.hostname.empty() && !s.has_namespace(NamespaceType::uts))
    fail("config.json: hostname: setting a hostname needs a uts namespace");
  if (!s.domainname.empty() && !s.has_namespace(NamespaceType::uts))
    fail("config.json: domainname: setting a domainname needs a uts namespace");
  s.raw = std::move(doc);
  return s;
}

Spec load_spec(const std::string& bundle_dir) {
  std::string path = bundle_dir + "/config.json";
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    fail("cannot read the bundle's configuration: {}", e.what());
  }
  return parse_spec(text);
}

bool Spec::has_namespace(NamespaceType t) const { return find_namespace(t) != nullptr; }

const Namespace* Spec::find_namespace(NamespaceType t) const {
  for (const auto& ns : linux.namespaces)
    if (ns.type == t) return &ns;
  return nullptr;
}

std::string namespace_name(NamespaceType t) {
  switch (t) {
    case NamespaceType::pid: return "pid";
    case NamespaceType::network: return "network";
    case NamespaceType::mount: return "mount";
    case NamespaceType::ipc: return "ipc";
    case NamespaceType::uts: return "uts";
    case NamespaceType::user: return "user";
    case NamespaceType::cgroup: return "cgroup";
    case NamespaceType::time: return "time";
  }
  return "?";
}

std::optional<NamespaceType> namespace_from_name(const std::string& n) {
  for (auto t : {NamespaceType::pid, NamespaceType::network, NamespaceType::mount,
                 NamespaceType::ipc, NamespaceType::uts, NamespaceType::user,
                 NamespaceType::cgroup, NamespaceType::time})
    if (namespace_name(t) == n) return t;
  return std::nullopt;
}

int namespace_clone_flag(NamespaceType t) {
  switch (t) {
    case NamespaceType::pid: return CLONE_NEWPID;
    case NamespaceType::network: return CLONE_NEWNET;
    case NamespaceType::mount: return CLONE_NEWNS;
    case NamespaceType::ipc: return CLONE_NEWIPC;
    case NamespaceType::uts: return CLONE_NEWUTS;
    case NamespaceType::user: return CLONE_NEWUSER;
    case NamespaceType::cgroup: return CLONE_NEWCGROUP;
    case NamespaceType::time: return 0x00000080;  // CLONE_NEWTIME
  }
  return 0;
}

const char* namespace_proc_name(NamespaceType t) {
  switch (t) {
    case NamespaceType::pid: return "pid";
    case NamespaceType::network: return "net";
    case NamespaceType::mount: return "mnt";
    case NamespaceType::ipc: return "ipc";
    case NamespaceType::uts: return "uts";
    case NamespaceType::user: return "user";
    case NamespaceType::cgroup: return "cgroup";
    case NamespaceType::time: return "time";
  }
  return "?";
}

}  // namespace vessel::oci
