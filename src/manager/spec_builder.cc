#include "manager/spec_builder.h"

#include "manager/cdi.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "linux/capabilities.h"
#include "linux/path.h"
#include "linux/seccomp.h"
#include "oci/spec.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

// The capabilities podman and docker give a container unless told otherwise.
const std::vector<std::string> kDefaultCaps = {
    "CAP_CHOWN",      "CAP_DAC_OVERRIDE", "CAP_FOWNER",      "CAP_FSETID",           "CAP_KILL",
    "CAP_SETGID",     "CAP_SETUID",       "CAP_SETPCAP",     "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
    "CAP_SYS_CHROOT", "CAP_MKNOD",        "CAP_AUDIT_WRITE", "CAP_SETFCAP"};

std::string cap_name(std::string c) {
  std::transform(c.begin(), c.end(), c.begin(), ::toupper);
  if (c.rfind("CAP_", 0) != 0) c = "CAP_" + c;
  return c;
}

std::vector<std::string> capability_set(const RunOptions& o) {
  auto known = linux::known_capabilities();
  if (o.privileged) return known;
  std::set<std::string> caps(kDefaultCaps.begin(), kDefaultCaps.end());
  auto check = [&](const std::string& flag, const std::string& c) {
    if (std::find(known.begin(), known.end(), c) == known.end())
      fail("invalid {} \"{}\": unknown capability", flag, c);
  };
  for (const auto& d : o.cap_drop) {
    std::string c = cap_name(d);
    if (c == "CAP_ALL") {
      caps.clear();
      continue;
    }
    check("--cap-drop", c);
    caps.erase(c);
  }
  for (const auto& a : o.cap_add) {
    std::string c = cap_name(a);
    if (c == "CAP_ALL") {
      caps.insert(known.begin(), known.end());
      continue;
    }
    check("--cap-add", c);
    caps.insert(c);
  }
  return {caps.begin(), caps.end()};
}

std::string env_key(const std::string& kv) { return kv.substr(0, kv.find('=')); }

void set_env(json& env, const std::string& kv) {
  auto key = env_key(kv);
  for (auto& e : env)
    if (env_key(e.get<std::string>()) == key) {
      e = kv;
      return;
    }
  env.push_back(kv);
}

// Reads a file inside the rootfs without following links out of it; empty if missing.
std::string read_in_root(int rootfd, const std::string& path) {
  try {
    auto fd = linux::open_in_root(rootfd, path, linux::Create::none);
    UniqueFd file(::open(linux::fd_path(fd.get()).c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) return {};
    struct stat st {};
    if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    return read_fd(file.get());
  } catch (const Error&) {
    return {};
  }
}

std::vector<std::vector<std::string>> colon_records(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    size_t start = 0;
    while (true) {
      auto pos = line.find(':', start);
      fields.push_back(line.substr(start, pos - start));
      if (pos == std::string::npos) break;
      start = pos + 1;
    }
    out.push_back(std::move(fields));
  }
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 11 && s.find_first_not_of("0123456789") == std::string::npos;
}

json rlimit_from_flag(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos)
    fail("invalid --ulimit \"{}\": expected NAME=SOFT[:HARD] (e.g. nofile=1024:2048)", spec);
  std::string name = spec.substr(0, eq);
  std::string vals = spec.substr(eq + 1);
  std::string soft = vals.substr(0, vals.find(':'));
  std::string hard = vals.find(':') == std::string::npos ? soft : vals.substr(vals.find(':') + 1);
  auto num = [&](const std::string& v) -> int64_t {
    if (v == "-1" || v == "unlimited") return -1;
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
      fail("invalid --ulimit \"{}\": \"{}\" is not a number", spec, v);
    return std::stoll(v);
  };
  std::string type = "RLIMIT_";
  for (char ch : name) type += static_cast<char>(::toupper(static_cast<unsigned char>(ch)));
  static const std::set<std::string> known = {
      "RLIMIT_AS",     "RLIMIT_CORE",   "RLIMIT_CPU",        "RLIMIT_DATA",
      "RLIMIT_FSIZE",  "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK",    "RLIMIT_MSGQUEUE",
      "RLIMIT_NICE",   "RLIMIT_NOFILE", "RLIMIT_NPROC",      "RLIMIT_RSS",
      "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"};
  if (!known.count(type)) fail("invalid --ulimit \"{}\": unknown limit \"{}\"", spec, name);
  int64_t s = num(soft), h = num(hard);
  auto as_u = [](int64_t v) -> uint64_t { return v < 0 ? UINT64_MAX : static_cast<uint64_t>(v); };
  if (as_u(s) > as_u(h))
    fail("invalid --ulimit \"{}\": the soft limit exceeds the hard limit", spec);
  return {{"type", type}, {"soft", as_u(s)}, {"hard", as_u(h)}};
}

void add_device(json& spec, const std::string& flag) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    auto pos = flag.find(':', start);
    parts.push_back(flag.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  std::string host = parts[0];
  std::string ctr = parts.size() > 1 && parts[1].find('/') == 0 ? parts[1] : host;
  std::string perms = parts.size() > 2                            ? parts[2]
                      : (parts.size() == 2 && parts[1][0] != '/') ? parts[1]
                                                                  : "rwm";
  if (perms.find_first_not_of("rwm") != std::string::npos || perms.empty())
    fail("invalid --device \"{}\": permissions must be made of r, w and m", flag);
  struct stat st {};
  if (::stat(host.c_str(), &st) != 0) fail_errno("invalid --device \"{}\": {}", flag, host);
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    fail("invalid --device \"{}\": {} is not a device node", flag, host);
  std::string type = S_ISCHR(st.st_mode) ? "c" : "b";
  spec["linux"]["devices"].push_back({{"path", ctr},
                                      {"type", type},
                                      {"major", major(st.st_rdev)},
                                      {"minor", minor(st.st_rdev)},
                                      {"fileMode", st.st_mode & 07777},
                                      {"uid", 0},
                                      {"gid", 0}});
  spec["linux"]["resources"]["devices"].push_back({{"allow", true},
                                                   {"type", type},
                                                   {"major", major(st.st_rdev)},
                                                   {"minor", minor(st.st_rdev)},
                                                   {"access", perms}});
}

}  // namespace

std::string stop_signal_for(const json& image_config, const RunOptions& o) {
  if (!o.stop_signal.empty()) return o.stop_signal;
  auto cfg = image_config.value("config", json::object());
  if (cfg.is_object() && cfg.contains("StopSignal") && cfg["StopSignal"].is_string())
    return cfg["StopSignal"].get<std::string>();
  return "SIGTERM";
}

ResolvedUser resolve_user(int rootfd, const std::string& user) {
  ResolvedUser r;
  if (user.empty()) return r;
  std::string u = user.substr(0, user.find(':'));
  std::string g = user.find(':') == std::string::npos ? "" : user.substr(user.find(':') + 1);
  auto passwd = colon_records(read_in_root(rootfd, "/etc/passwd"));
  auto group = colon_records(read_in_root(rootfd, "/etc/group"));
  std::string user_name;
  bool found = false;
  for (const auto& p : passwd) {
    if (p.size() < 7) continue;
    if ((all_digits(u) && p[2] == u) || p[0] == u) {
      if (!all_digits(p[2]) || !all_digits(p[3])) continue;
      r.uid = static_cast<uint32_t>(std::stoul(p[2]));
      r.gid = static_cast<uint32_t>(std::stoul(p[3]));
      r.home = p[5].empty() ? "/" : p[5];
      user_name = p[0];
      found = true;
      break;
    }
  }
  if (!found) {
    if (!all_digits(u)) fail("unable to find user {}: no matching entries in passwd file", u);
    r.uid = static_cast<uint32_t>(std::stoul(u));
    r.gid = 0;
  }
  if (!g.empty()) {
    if (all_digits(g)) {
      r.gid = static_cast<uint32_t>(std::stoul(g));
    } else {
      bool gfound = false;
      for (const auto& e : group)
        if (e.size() >= 3 && e[0] == g && all_digits(e[2])) {
          r.gid = static_cast<uint32_t>(std::stoul(e[2]));
          gfound = true;
          break;
        }
      if (!gfound) fail("unable to find group {}: no matching entries in group file", g);
    }
  }
  // Supplementary groups: the groups that list the user as a member.
  if (!user_name.empty())
    for (const auto& e : group) {
      if (e.size() < 4 || !all_digits(e[2])) continue;
      std::istringstream members(e[3]);
      std::string m;
      while (std::getline(members, m, ','))
        if (m == user_name) {
          auto gid = static_cast<uint32_t>(std::stoul(e[2]));
          if (gid != r.gid) r.additional_gids.push_back(gid);
        }
    }
  return r;
}

json build_spec(const SpecInputs& in) {
  const RunOptions& o = *in.options;
  json image_cfg =
      in.image_config ? in.image_config->value("config", json::object()) : json::object();
  if (!image_cfg.is_object()) image_cfg = json::object();

  json spec = oci::default_spec(false);
  json& proc = spec["process"];

  // Entrypoint and Cmd (conversion.md): --entrypoint replaces the image's and drops its Cmd.
  std::vector<std::string> entrypoint, cmd;
  if (o.entrypoint) {
    entrypoint = *o.entrypoint;
  } else if (image_cfg.contains("Entrypoint") && image_cfg["Entrypoint"].is_array()) {
    entrypoint = image_cfg["Entrypoint"].get<std::vector<std::string>>();
  }
  if (!o.command.empty()) {
    cmd = o.command;
  } else if (!o.entrypoint && image_cfg.contains("Cmd") && image_cfg["Cmd"].is_array()) {
    cmd = image_cfg["Cmd"].get<std::vector<std::string>>();
  }
  std::vector<std::string> args = entrypoint;
  args.insert(args.end(), cmd.begin(), cmd.end());
  if (args.empty()) fail("no command given and the image {} has no Entrypoint or Cmd", o.image);
  proc["args"] = args;
  proc["terminal"] = o.tty;

  json env = json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
  if (image_cfg.contains("Env") && image_cfg["Env"].is_array())
    for (const auto& e : image_cfg["Env"])
      if (e.is_string()) set_env(env, e.get<std::string>());
  if (o.tty) set_env(env, "TERM=xterm");
  std::string hostname = o.hostname.empty() ? in.id.substr(0, 12) : o.hostname;
  set_env(env, "HOSTNAME=" + hostname);
  for (const auto& e : o.env) set_env(env, e);

  std::string cwd = !o.workdir.empty() ? o.workdir : image_cfg.value("WorkingDir", "");
  if (cwd.empty()) cwd = "/";
  if (cwd[0] != '/') fail("invalid working directory \"{}\": it must be absolute", cwd);
  proc["cwd"] = cwd;

  std::string user = !o.user.empty() ? o.user : image_cfg.value("User", "");
  auto resolved = resolve_user(in.rootfs_fd, user);
  proc["user"] = {{"uid", resolved.uid}, {"gid", resolved.gid}};
  if (!resolved.additional_gids.empty()) proc["user"]["additionalGids"] = resolved.additional_gids;
  bool has_home = false;
  for (const auto& e : env) has_home |= env_key(e.get<std::string>()) == "HOME";
  if (!has_home) env.push_back("HOME=" + resolved.home);
  proc["env"] = env;

  auto caps = capability_set(o);
  proc["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
  proc["noNewPrivileges"] = false;
  for (const auto& so : o.security_opt) {
    if (so == "no-new-privileges" || so == "no-new-privileges:true" ||
        so == "no-new-privileges=true")
      proc["noNewPrivileges"] = true;
    else if (so.rfind("seccomp=", 0) == 0 || so.rfind("seccomp:", 0) == 0) {
    } else if (so.rfind("label=", 0) == 0 || so.rfind("apparmor=", 0) == 0) {
      // Neither SELinux nor AppArmor is in use on the hosts we target; refuse rather than ignore.
      if (so != "label=disable" && so != "apparmor=unconfined")
        fail("invalid --security-opt \"{}\": this host has no SELinux/AppArmor support in vessel",
             so);
    } else {
      fail(
          "invalid --security-opt \"{}\": expected no-new-privileges, seccomp=unconfined|FILE, "
          "label=disable or apparmor=unconfined",
          so);
    }
  }
  json rlimits = json::array({{{"type", "RLIMIT_NOFILE"}, {"soft", 1024}, {"hard", 1024}}});
  for (const auto& u : o.ulimits) {
    json r = rlimit_from_flag(u);
    bool replaced = false;
    for (auto& e : rlimits)
      if (e["type"] == r["type"]) {
        e = r;
        replaced = true;
      }
    if (!replaced) rlimits.push_back(r);
  }
  proc["rlimits"] = rlimits;

  spec["hostname"] = hostname;
  spec["root"] = {{"path", "rootfs"}, {"readonly", o.read_only}};

  json& lin = spec["linux"];
  // One cgroup per container at the top, removed with it: no shared parent is left behind.
  lin["cgroupsPath"] = "/vessel-" + in.id;
  if (o.network == "host") {
    json kept = json::array();
    for (const auto& ns : lin["namespaces"])
      if (ns["type"] != "network") kept.push_back(ns);
    // A fresh sysfs (root may mount one in the host's network namespace) shows the
    // interfaces of the namespace the container is in, unlike a bind of the host's /sys.
    lin["namespaces"] = kept;
  } else if (!in.netns_path.empty()) {
    for (auto& ns : lin["namespaces"])
      if (ns["type"] == "network") ns["path"] = in.netns_path;
  }

  if (o.privileged) {
    lin.erase("maskedPaths");
    lin.erase("readonlyPaths");
    lin["resources"]["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
    for (auto& m : spec["mounts"]) {
      if (m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup") {
        json opts = json::array();
        for (const auto& op : m.value("options", json::array()))
          if (op != "ro") opts.push_back(op);
        opts.push_back("rw");
        m["options"] = opts;
      }
    }
  } else {
    // Our default seccomp profile, unless the user brings one or turns it off.
    json seccomp = linux::default_seccomp_profile();
    for (const auto& so : o.security_opt) {
      if (so.size() > 8 && (so.rfind("seccomp=", 0) == 0 || so.rfind("seccomp:", 0) == 0)) {
        std::string v = so.substr(8);
        if (v == "unconfined") {
          seccomp = nullptr;
        } else {
          try {
            seccomp = json::parse(read_file(v));
          } catch (const json::exception& e) {
            fail("invalid --security-opt seccomp={}: {}", v, e.what());
          }
        }
      }
    }
    if (!seccomp.is_null()) lin["seccomp"] = seccomp;
  }

  // Resources.
  json& res = lin["resources"];
  if (o.memory) {
    if (*o.memory < 6 * 1024 * 1024 && *o.memory != -1)
      fail("invalid --memory {}: the minimum is 6m", *o.memory);
    res["memory"]["limit"] = *o.memory;
  }
  if (o.memory_swap) {
    if (!o.memory) fail("--memory-swap needs --memory as well");
    if (*o.memory_swap != -1 && *o.memory_swap < *o.memory)
      fail("invalid --memory-swap: it must be at least --memory (memory plus swap), or -1");
    res["memory"]["swap"] = *o.memory_swap;
  }
  if (o.cpus) {
    if (*o.cpus <= 0) fail("invalid --cpus {}: must be more than 0", *o.cpus);
    res["cpu"]["period"] = 100000;
    res["cpu"]["quota"] = static_cast<int64_t>(*o.cpus * 100000);
  }
  if (o.cpu_shares) res["cpu"]["shares"] = *o.cpu_shares;
  if (!o.cpuset_cpus.empty()) res["cpu"]["cpus"] = o.cpuset_cpus;
  if (o.pids_limit) res["pids"]["limit"] = *o.pids_limit;
  if (o.blkio_weight) {
    if (*o.blkio_weight < 10 || *o.blkio_weight > 1000)
      fail("invalid --blkio-weight {}: must be between 10 and 1000", *o.blkio_weight);
    res["blockIO"]["weight"] = *o.blkio_weight;
  }
  if (!lin.contains("devices")) lin["devices"] = json::array();
  std::vector<std::string> cdi;
  for (const auto& d : o.devices) {
    if (is_cdi_device_name(d))
      cdi.push_back(d);
    else
      add_device(spec, d);
  }
  apply_cdi_devices(spec, cdi, cdi_spec_dirs());

  // /etc/hosts, /etc/hostname and /etc/resolv.conf of the container, kept in its directory.
  for (std::string f : {"hosts", "hostname", "resolv.conf"}) {
    bool shared = f != "hostname" && !in.shared_etc_dir.empty();
    spec["mounts"].push_back({{"destination", "/etc/" + f},
                              {"type", "bind"},
                              {"source", (shared ? in.shared_etc_dir : in.etc_dir) + "/" + f},
                              {"options", {"rbind", "rprivate"}}});
  }

  // Volumes, binds and tmpfs mounts go last so they win over the defaults. (The image's
  // declared volumes arrive here as anonymous named volumes: see create_container.)
  for (const auto& v : o.volumes) {
    json m = {{"destination", v.target}};
    if (v.type == "tmpfs") {
      m["type"] = "tmpfs";
      m["source"] = "tmpfs";
      json opts = json::array({"nosuid", "nodev"});
      for (const auto& x : v.options) opts.push_back(x);
      if (v.readonly) opts.push_back("ro");
      m["options"] = opts;
    } else {
      std::string src = v.source;
      if (v.type == "volume") {
        auto it = in.volume_paths.find(v.source);
        if (it == in.volume_paths.end()) fail("volume {} was not prepared", v.source);
        src = it->second;
      }
      m["type"] = "bind";
      m["source"] = src;
      json opts = json::array({"rbind"});
      for (const auto& x : v.options)
        if (x != "anonymous") opts.push_back(x);  // a marker of ours, not a mount option
      opts.push_back(v.readonly ? "ro" : "rw");
      m["options"] = opts;
    }
    spec["mounts"].push_back(m);
  }

  // --init: our static init is bound in read-only and runs the command as its child.
  if (o.init) {
    if (in.init_path.empty()) fail("--init: the vessel-init binary was not found next to vessel");
    spec["mounts"].push_back({{"destination", "/run/vessel-init"},
                              {"type", "bind"},
                              {"source", in.init_path},
                              {"options", {"bind", "ro", "nosuid", "nodev"}}});
    json wrapped = json::array({"/run/vessel-init", "--"});
    for (const auto& a : proc["args"]) wrapped.push_back(a);
    proc["args"] = wrapped;
  }

  // Labels, the stop signal and exposed ports travel as annotations (conversion.md).
  json ann = json::object();
  if (image_cfg.contains("Labels") && image_cfg["Labels"].is_object())
    for (auto& [k, v] : image_cfg["Labels"].items())
      if (v.is_string()) ann[k] = v;
  for (const auto& [k, v] : o.labels) ann[k] = v;
  ann["org.opencontainers.image.stopSignal"] = stop_signal_for(*in.image_config, o);
  if (image_cfg.contains("ExposedPorts") && image_cfg["ExposedPorts"].is_object()) {
    std::string ports;
    for (auto& [k, v] : image_cfg["ExposedPorts"].items()) ports += (ports.empty() ? "" : ",") + k;
    ann["org.opencontainers.image.exposedPorts"] = ports;
  }
  if (in.image_config && in.image_config->contains("os"))
    ann["org.opencontainers.image.os"] = (*in.image_config)["os"];
  if (in.image_config && in.image_config->contains("architecture"))
    ann["org.opencontainers.image.architecture"] = (*in.image_config)["architecture"];
  spec["annotations"] = ann;
  return spec;
}

}  // namespace vessel::manager
