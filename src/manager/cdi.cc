#include "manager/cdi.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "manager/config.h"
#include "util/error.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

// YAML as JSON with every scalar a string (int_field reads the numbers), so that "0666" or
// "true" in a list of arguments stays what was written.
json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : n) a.push_back(yaml_to_json(item));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar:
      return n.Scalar();
    default:
      return nullptr;
  }
}

struct SpecFile {
  std::string path;
  json doc;
};

json load_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail_errno("CDI spec {}: cannot read it", path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    if (path.ends_with(".json")) return json::parse(ss.str());
    return yaml_to_json(YAML::Load(ss.str()));
  } catch (const std::exception& e) {
    std::string what = e.what();
    fail("CDI spec {}: not valid {}: {}", path, path.ends_with(".json") ? "JSON" : "YAML",
         what.substr(0, 200));
  }
}

// Every spec file of the directories, in order (within one directory by name).
std::vector<std::string> spec_paths(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    DIR* dir = ::opendir(d.c_str());
    if (!dir) continue;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
      std::string n = e->d_name;
      if (n.ends_with(".json") || n.ends_with(".yaml") || n.ends_with(".yml")) names.push_back(n);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) out.push_back(d + "/" + n);
  }
  return out;
}

[[noreturn]] void bad_spec(const std::string& file, const std::string& what) {
  fail("CDI spec {}: {}", file, what);
}

std::string str_field(const json& o, const char* key, const std::string& file, bool required) {
  if (!o.contains(key) || o[key].is_null()) {
    if (required) bad_spec(file, fmt::format("\"{}\" is missing", key));
    return "";
  }
  if (!o[key].is_string()) bad_spec(file, fmt::format("\"{}\" must be a string", key));
  return o[key].get<std::string>();
}

std::vector<std::string> str_list(const json& o, const char* key, const std::string& file) {
  std::vector<std::string> out;
  if (!o.contains(key) || o[key].is_null()) return out;
  if (!o[key].is_array()) bad_spec(file, fmt::format("\"{}\" must be a list of strings", key));
  for (const auto& v : o[key]) {
    if (!v.is_string()) bad_spec(file, fmt::format("\"{}\" must be a list of strings", key));
    out.push_back(v.get<std::string>());
  }
  return out;
}

// A number: JSON's, or YAML's text (decimal; octal as 0o666 or 0666, 0x1b6).
std::optional<int64_t> int_field(const json& o, const char* key, const std::string& file) {
  if (!o.contains(key) || o[key].is_null()) return std::nullopt;
  if (o[key].is_number_integer()) return o[key].get<int64_t>();
  static const std::regex dec(R"(^-?(0|[1-9][0-9]*)$)"), oct(R"(^0o?([0-7]+)$)"),
      hex(R"(^0x([0-9a-fA-F]+)$)");
  std::smatch m;
  std::string s = o[key].is_string() ? o[key].get<std::string>() : "";
  if (std::regex_match(s, dec)) return std::stoll(s);
  if (std::regex_match(s, m, oct)) return std::stoll(m[1], nullptr, 8);
  if (std::regex_match(s, m, hex)) return std::stoll(m[1], nullptr, 16);
  bad_spec(file, fmt::format("\"{}\" must be a number", key));
}

void set_env(json& spec, const std::string& kv) {
  json& env = spec["process"]["env"];
  if (!env.is_array()) env = json::array();
  std::string key = kv.substr(0, kv.find('='));
  for (auto& e : env)
    if (e.is_string() && e.get<std::string>().substr(0, e.get<std::string>().find('=')) == key) {
      e = kv;
      return;
    }
  env.push_back(kv);
}

void add_device_node(json& spec, const json& d, const std::string& file) {
  if (!d.is_object()) bad_spec(file, "a deviceNodes entry must be an object");
  std::string path = str_field(d, "path", file, true);
  if (path.empty() || path[0] != '/')
    bad_spec(file, "device path \"" + path + "\" is not absolute");
  std::string host = str_field(d, "hostPath", file, false);
  if (host.empty()) host = path;
  std::string type = str_field(d, "type", file, false);
  auto maj = int_field(d, "major", file), min = int_field(d, "minor", file);
  auto mode = int_field(d, "fileMode", file);
  if (type.empty() || !maj || !min || !mode) {
    struct stat st {};
    if (::stat(host.c_str(), &st) != 0) {
      if (type.empty() || !maj || !min) fail_errno("CDI spec {}: device {}", file, host);
    } else {
      if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        bad_spec(file, host + " is not a device node");
      if (type.empty()) type = S_ISCHR(st.st_mode) ? "c" : "b";
      if (!maj) maj = major(st.st_rdev);
      if (!min) min = minor(st.st_rdev);
      if (!mode) mode = st.st_mode & 07777;
    }
  }
  if (type == "u") type = "c";
  if (type != "c" && type != "b" && type != "p")
    bad_spec(file, "device " + path + ": type must be c, b, u or p");
  std::string perms = str_field(d, "permissions", file, false);
  if (perms.empty()) perms = "rwm";
  if (perms.find_first_not_of("rwm") != std::string::npos)
    bad_spec(file, "device " + path + ": permissions must be made of r, w and m");
  json node = {{"path", path}, {"type", type}, {"major", *maj}, {"minor", *min}};
  if (mode) node["fileMode"] = *mode;
  node["uid"] = int_field(d, "uid", file).value_or(0);
  node["gid"] = int_field(d, "gid", file).value_or(0);
  json& devs = spec["linux"]["devices"];
  if (!devs.is_array()) devs = json::array();
  for (auto it = devs.begin(); it != devs.end(); ++it)
    if (it->value("path", "") == path) {
      devs.erase(it);
      break;
    }
  devs.push_back(node);
  if (type != "p")
    spec["linux"]["resources"]["devices"].push_back(
        {{"allow", true}, {"type", type}, {"major", *maj}, {"minor", *min}, {"access", perms}});
}

void add_mount(json& spec, const json& m, const std::string& file) {
  if (!m.is_object()) bad_spec(file, "a mounts entry must be an object");
  std::string host = str_field(m, "hostPath", file, true);
  std::string ctr = str_field(m, "containerPath", file, true);
  if (ctr.empty() || ctr[0] != '/') bad_spec(file, "mount path \"" + ctr + "\" is not absolute");
  std::string type = str_field(m, "type", file, false);
  auto options = str_list(m, "options", file);
  if (type.empty()) type = "bind";
  if (type == "bind" && std::find(options.begin(), options.end(), "bind") == options.end() &&
      std::find(options.begin(), options.end(), "rbind") == options.end())
    options.insert(options.begin(), "rbind");
  spec["mounts"].push_back(
      {{"destination", ctr}, {"type", type}, {"source", host}, {"options", options}});
}

void add_hook(json& spec, const json& h, const std::string& file) {
  static const char* kNames[] = {"prestart",       "createRuntime", "createContainer",
                                 "startContainer", "poststart",     "poststop"};
  if (!h.is_object()) bad_spec(file, "a hooks entry must be an object");
  std::string name = str_field(h, "hookName", file, true);
  if (std::find_if(std::begin(kNames), std::end(kNames),
                   [&](const char* n) { return name == n; }) == std::end(kNames))
    bad_spec(file, "unknown hookName \"" + name + "\"");
  json hook = {{"path", str_field(h, "path", file, true)}};
  if (auto args = str_list(h, "args", file); !args.empty()) hook["args"] = args;
  if (auto env = str_list(h, "env", file); !env.empty()) hook["env"] = env;
  if (auto t = int_field(h, "timeout", file)) hook["timeout"] = *t;
  spec["hooks"][name].push_back(hook);
}

void apply_edits(json& spec, const json& edits, const std::string& file) {
  if (edits.is_null()) return;
  if (!edits.is_object()) bad_spec(file, "containerEdits must be an object");
  for (const auto& kv : str_list(edits, "env", file)) {
    if (kv.empty() || kv[0] == '=') bad_spec(file, "env entry \"" + kv + "\" is not KEY=VALUE");
    set_env(spec, kv.find('=') == std::string::npos ? kv + "=" : kv);
  }
  auto list = [&](const char* key) {
    if (!edits.contains(key) || edits[key].is_null()) return json::array();
    if (!edits[key].is_array()) bad_spec(file, fmt::format("\"{}\" must be a list", key));
    return edits[key];
  };
  for (const auto& d : list("deviceNodes")) add_device_node(spec, d, file);
  for (const auto& m : list("mounts")) add_mount(spec, m, file);
  for (const auto& h : list("hooks")) add_hook(spec, h, file);
}

}  // namespace

bool is_cdi_device_name(const std::string& s) {
  static const std::regex re(
      R"(^[a-zA-Z0-9][a-zA-Z0-9_.-]*\.[a-zA-Z0-9_-]+/[a-zA-Z0-9][a-zA-Z0-9_.-]*=[a-zA-Z0-9_.:-]+$)");
  return !s.empty() && s[0] != '/' && std::regex_match(s, re);
}

std::vector<std::string> cdi_spec_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("VESSEL_CDI_SPEC_DIRS"); env && *env) {
    std::string s = env;
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t c = s.find(':', pos);
      std::string d = s.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
      if (!d.empty()) dirs.push_back(d);
      if (c == std::string::npos) break;
      pos = c + 1;
    }
    return dirs;
  }
  dirs = config().list("containers.cdi_spec_dirs");
  if (dirs.empty()) dirs = {"/etc/cdi", "/var/run/cdi"};
  return dirs;
}

void apply_cdi_devices(json& spec, const std::vector<std::string>& names,
                       const std::vector<std::string>& dirs) {
  if (names.empty()) return;
  // kind -> device name -> (file, spec-level edits, device edits); later files win.
  struct Found {
    std::string file;
    const json* spec_edits;
    const json* dev_edits;
  };
  std::vector<SpecFile> files;
  std::vector<std::string> broken;
  for (const auto& p : spec_paths(dirs)) {
    try {
      files.push_back({p, load_spec(p)});
    } catch (const Error& e) {
      broken.push_back(e.what());
    }
  }
  std::map<std::string, std::map<std::string, Found>> kinds;
  for (const auto& f : files) {
    const json& d = f.doc;
    if (!d.is_object() || !d.contains("kind") || !d["kind"].is_string() || !d.contains("devices") ||
        !d["devices"].is_array()) {
      broken.push_back("CDI spec " + f.path + ": no \"kind\" or \"devices\"");
      continue;
    }
    std::string ver = d.value("cdiVersion", "");
    if (ver.empty() || ver.compare(0, 2, "0.") != 0 || std::atoi(ver.c_str() + 2) > 6) {
      broken.push_back("CDI spec " + f.path + ": cdiVersion \"" + ver +
                       "\" (vessel reads 0.3 to 0.6)");
      continue;
    }
    const json* se = d.contains("containerEdits") ? &d["containerEdits"] : nullptr;
    for (const auto& dev : d["devices"]) {
      if (!dev.is_object() || !dev.contains("name") || !dev["name"].is_string()) continue;
      const json* de = dev.contains("containerEdits") ? &dev["containerEdits"] : nullptr;
      kinds[d["kind"].get<std::string>()][dev["name"].get<std::string>()] = {f.path, se, de};
    }
  }
  std::string where;
  for (const auto& d : dirs) where += (where.empty() ? "" : ", ") + d;
  std::vector<std::string> seen_specs;
  for (const auto& name : names) {
    auto eq = name.find('=');
    std::string kind = name.substr(0, eq), dev = name.substr(eq + 1);
    std::vector<Found> picked;
    auto k = kinds.find(kind);
    if (k != kinds.end()) {
      auto d = k->second.find(dev);
      if (d != k->second.end())
        picked.push_back(d->second);
      else if (dev == "all")
        for (const auto& [n, f] : k->second) picked.push_back(f);
    }
    if (picked.empty()) {
      std::string msg = fmt::format("unknown CDI device \"{}\": no spec in {} defines it", name,
                                    where.empty() ? "(no directory)" : where);
      if (!broken.empty()) msg += " (unusable: " + broken.front() + ")";
      fail("{}", msg);
    }
    for (const auto& f : picked) {
      // The spec's own edits apply once, however many of its devices are asked for.
      if (f.spec_edits &&
          std::find(seen_specs.begin(), seen_specs.end(), f.file) == seen_specs.end()) {
        seen_specs.push_back(f.file);
        apply_edits(spec, *f.spec_edits, f.file);
      }
      if (f.dev_edits) apply_edits(spec, *f.dev_edits, f.file);
    }
  }
}

}  // namespace vessel::manager
