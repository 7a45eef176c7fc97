// vessel.conf with toml++ (header-only here: one translation unit, no shared library to ship).
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 1
#include "manager/config.h"

#include <pwd.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "manager/oci_runtime.h"
#include "manager/options.h"
#include "util/detach_keys.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

enum class Kind { string, list, mirrors };

struct KeySpec {
  const char* key;
  Kind kind;
  // Checks one string (a list's items, a mirror's hosts); returns what is wrong, or "".
  std::string (*check)(const std::string&);
};

std::string absolute_path(const std::string& v) {
  return !v.empty() && v[0] == '/' ? "" : "must be an absolute path";
}
std::string driver(const std::string& v) {
  return v == "overlay" || v == "vfs" || v == "fuse-overlayfs"
             ? ""
             : "must be overlay, fuse-overlayfs or vfs";
}
std::string subnet(const std::string& v) {
  static const std::regex re(R"(^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$)");
  std::smatch m;
  if (!std::regex_match(v, m, re)) return "must be an IPv4 subnet such as 10.90.0.0/16";
  for (int i = 1; i <= 4; ++i)
    if (std::stoi(m[i]) > 255) return "must be an IPv4 subnet such as 10.90.0.0/16";
  int prefix = std::stoi(m[5]);
  if (prefix < 8 || prefix > 30) return "the prefix length must be 8 to 30";
  return "";
}
std::string network_name(const std::string& v) {
  static const std::regex re(R"(^[a-zA-Z0-9][a-zA-Z0-9_.-]*$)");
  return std::regex_match(v, re) ? "" : "must be a network name";
}
std::string ulimit(const std::string& v) {
  static const std::regex re(R"(^[a-z]+=(-1|\d+)(:(-1|\d+))?$)");
  return std::regex_match(v, re) ? "" : "must be NAME=SOFT[:HARD] (e.g. nofile=1024:2048)";
}
std::string size(const std::string& v) {
  try {
    return parse_size("log_max_size", v) > 0 ? "" : "must be more than 0";
  } catch (const std::exception&) {
    return "must be a size such as 10m, 512k or 1g";
  }
}
std::string userns_mode(const std::string& v) {
  return v == "host" || v == "auto" ? "" : "must be host or auto";
}
std::string runtime_program(const std::string& v) {
  try {
    resolve_runtime(v);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string detach_keys(const std::string& v) {
  try {
    parse_detach_keys(v);
    return "";
  } catch (const std::exception&) {
    return "must be keys such as ctrl-p,ctrl-q (a character, or ctrl-X)";
  }
}

std::string host(const std::string& v) {
  static const std::regex re(R"(^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:\d{1,5})?$)");
  return std::regex_match(v, re) ? "" : "must be a registry host[:port]";
}

const KeySpec kKeys[] = {
    {"storage.root", Kind::string, absolute_path},
    {"storage.runroot", Kind::string, absolute_path},
    {"storage.driver", Kind::string, driver},
    {"network.default_network", Kind::string, network_name},
    {"network.default_subnet", Kind::string, subnet},
    {"containers.ulimits", Kind::list, ulimit},
    {"containers.log_max_size", Kind::string, size},
    {"containers.userns", Kind::string, userns_mode},
    {"containers.runtime", Kind::string, runtime_program},
    {"containers.detach_keys", Kind::string, detach_keys},
    {"containers.cdi_spec_dirs", Kind::list, absolute_path},
    {"registries.search", Kind::list, host},
    {"registries.insecure", Kind::list, host},
    {"registries.mirrors", Kind::mirrors, host},
};

const KeySpec* find_key(const std::string& key) {
  for (const auto& k : kKeys)
    if (key == k.key) return &k;
  return nullptr;
}

std::string where(const std::string& file, const toml::source_region& src) {
  return file + ":" + std::to_string(src.begin.line);
}

[[noreturn]] void bad(const std::string& at, const std::string& key, const std::string& why,
                      const std::string& value) {
  if (value.empty()) fail("{}: {}: {}", at, key, why);
  fail("{}: {}: {} (value \"{}\")", at, key, why, value);
}

std::string checked_string(const toml::node& n, const KeySpec& k, const std::string& key,
                           const std::string& at) {
  auto s = n.value<std::string>();
  if (!n.is_string() || !s) bad(at, key, "must be a string", "");
  if (std::string why = k.check(*s); !why.empty()) bad(at, key, why, *s);
  return *s;
}

json checked_list(const toml::node& n, const KeySpec& k, const std::string& key,
                  const std::string& at) {
  const toml::array* a = n.as_array();
  if (!a) bad(at, key, "must be an array of strings", "");
  json out = json::array();
  for (const toml::node& item : *a) out.push_back(checked_string(item, k, key, at));
  return out;
}

}  // namespace

Config::Config() {
  for (const auto& k : kKeys) {
    json v = k.kind == Kind::string ? json("")
             : k.kind == Kind::list ? json::array()
                                    : json::object();
    values_[k.key] = {v, "default"};
  }
}

void Config::set(const std::string& key, json value, const std::string& origin) {
  if (!find_key(key)) fail("unknown configuration key \"{}\"", key);
  values_[key] = {std::move(value), origin};
}

const ConfigValue& Config::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) fail("unknown configuration key \"{}\"", key);
  return it->second;
}

std::vector<std::string> Config::list(const std::string& key) const {
  return get(key).value.get<std::vector<std::string>>();
}

void Config::load_file(const std::string& path) {
  std::string text = read_file(path);
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    fail("{}:{}: {}", path, e.source().begin.line, e.description());
  }
  for (auto&& [section, node] : root) {
    std::string sname(section.str());
    const toml::table* t = node.as_table();
    if (!t) {
      fail(
          "{}: unknown key \"{}\" (settings go in the tables [storage], [network], "
          "[containers], [registries])",
          where(path, section.source()), sname);
    }
    for (auto&& [name, value] : *t) {
      std::string key = sname + "." + std::string(name.str());
      std::string at = where(path, name.source());
      const KeySpec* k = find_key(key);
      if (!k) fail("{}: unknown key \"{}\"", at, key);
      json v;
      if (k->kind == Kind::string) {
        v = checked_string(value, *k, key, at);
      } else if (k->kind == Kind::list) {
        v = checked_list(value, *k, key, at);
      } else {
        const toml::table* m = value.as_table();
        if (!m) bad(at, key, "must be a table of registry = [mirrors]", "");
        v = json::object();
        for (auto&& [reg, mirrors] : *m) {
          std::string r(reg.str());
          if (std::string why = host(r); !why.empty()) bad(at, key, why, r);
          v[r] = checked_list(mirrors, *k, key + "." + r, where(path, reg.source()));
        }
      }
      values_[key] = {v, at};
    }
  }
  files_.push_back(path);
}

std::vector<std::string> default_config_files() {
  std::vector<std::string> out;
  if (path_exists("/etc/vessel/vessel.conf")) out.push_back("/etc/vessel/vessel.conf");
  std::string home;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) {
    home = std::string(x);
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    home = std::string(h) + "/.config";
  } else if (struct passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) {
    home = std::string(pw->pw_dir) + "/.config";
  }
  if (!home.empty() && path_exists(home + "/vessel/vessel.conf"))
    out.push_back(home + "/vessel/vessel.conf");
  return out;
}

namespace {
Config& global() {
  static Config c;
  return c;
}
}  // namespace

const Config& config() { return global(); }
void set_config(Config c) { global() = std::move(c); }

}  // namespace vessel::manager
