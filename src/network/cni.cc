#include "network/cni.h"

#include <unistd.h>

#include <cstdlib>

#include "util/error.h"
#include "util/subprocess.h"

namespace vessel::network {

using nlohmann::json;

std::vector<std::string> default_plugin_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("VESSEL_CNI_PATH"); env && *env) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) dirs.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return dirs;
  }
  return {"/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"};
}

CniRunner::CniRunner(std::vector<std::string> plugin_dirs) : dirs_(std::move(plugin_dirs)) {}

std::string CniRunner::find_plugin(const std::string& type) const {
  if (type.empty() || type.find('/') != std::string::npos || type[0] == '.')
    fail("CNI plugin type \"{}\" is not a plugin name", type);
  std::string searched;
  for (const auto& d : dirs_) {
    std::string p = d + "/" + type;
    if (::access(p.c_str(), X_OK) == 0) return p;
    searched += (searched.empty() ? "" : ", ") + d;
  }
  fail(
      "CNI plugin \"{}\" not found in {} (install containernetworking-plugins, or set "
      "VESSEL_CNI_PATH)",
      type, searched.empty() ? "no directory" : searched);
}

json CniRunner::invoke(const std::string& command, const Attachment& a, const json& plugin,
                       const json& prev_result) const {
  std::string type = plugin.value("type", "");
  std::string path = find_plugin(type);
  // The spec's rules for a list: the plugin's own object, plus the list's name and version,
  // the previous result, and only the runtime arguments the plugin declares it wants.
  json conf = plugin;
  conf["name"] = a.conflist.value("name", "");
  conf["cniVersion"] = a.conflist.value("cniVersion", "1.0.0");
  if (!prev_result.is_null()) conf["prevResult"] = prev_result;
  if (plugin.contains("capabilities") && a.runtime_config.is_object()) {
    json rc = json::object();
    for (auto& [key, wanted] : plugin["capabilities"].items())
      if (wanted == true && a.runtime_config.contains(key)) rc[key] = a.runtime_config[key];
    if (!rc.empty()) conf["runtimeConfig"] = rc;
  }
  std::string dirs;
  for (const auto& d : dirs_) dirs += (dirs.empty() ? "" : ":") + d;
  std::vector<std::string> env = {
      "CNI_COMMAND=" + command, "CNI_CONTAINERID=" + a.container_id, "CNI_NETNS=" + a.netns,
      "CNI_IFNAME=" + a.ifname, "CNI_PATH=" + dirs,
      // Plugins call iptables, ip and sysctl helpers.
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  auto r = run_subprocess(path, {path}, env, conf.dump(), 120000);
  if (r.status != 0) {
    std::string msg;
    try {
      json e = json::parse(r.out);
      msg = e.value("msg", "");
      std::string details = e.value("details", "");
      if (!details.empty() && details != msg) msg += " (" + details + ")";
      if (e.contains("code")) msg += fmt::format(" [CNI error {}]", e["code"].dump());
    } catch (const std::exception&) {
    }
    if (msg.empty()) msg = r.err.empty() ? r.out : r.err;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    fail("network {}: CNI plugin {} {} failed: {}", a.conflist.value("name", ""), type, command,
         msg.empty() ? fmt::format("exit status {}", r.status) : msg);
  }
  if (command != "ADD") return json();
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    fail("network {}: CNI plugin {} ADD printed no JSON result: {}", a.conflist.value("name", ""),
         type, r.out.substr(0, 200));
  }
}

json CniRunner::add(const Attachment& a) const {
  json result;
  const json& plugins = a.conflist.at("plugins");
  for (size_t i = 0; i < plugins.size(); ++i) {
    try {
      result = invoke("ADD", a, plugins[i], result);
    } catch (const Error&) {
      // Undo what the earlier plugins did (and this one, which may have half-done it).
      for (size_t j = i + 1; j-- > 0;) {
        try {
          invoke("DEL", a, plugins[j], result);
        } catch (const Error&) {
        }
      }
      throw;
    }
  }
  return result;
}

void CniRunner::del(const Attachment& a, const json& prev_result) const {
  std::string first_error;
  const json& plugins = a.conflist.at("plugins");
  for (size_t j = plugins.size(); j-- > 0;) {
    try {
      invoke("DEL", a, plugins[j], prev_result);
    } catch (const Error& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (!first_error.empty()) throw Error(first_error);
}

void CniRunner::check(const Attachment& a, const json& prev_result) const {
  for (const auto& p : a.conflist.at("plugins")) invoke("CHECK", a, p, prev_result);
}

namespace {

// A string field of a result object; "" when the object or the field is not what CNI says (a
// plugin's output is not trusted to be well-formed: found by fuzzing, tests/fuzz/fuzz_cni.cc).
std::string string_field(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& array_field(const json& o, const char* key) {
  static const json empty = json::array();
  auto it = o.find(key);
  return it != o.end() && it->is_array() ? *it : empty;
}

}  // namespace

ResultAddress first_container_address(const json& result, const std::string& ifname) {
  ResultAddress out;
  if (!result.is_object()) return out;
  // Which entry of "interfaces" is the container's: the one named ifname with a sandbox.
  int64_t index = -1;
  const json& ifaces = array_field(result, "interfaces");
  for (size_t i = 0; i < ifaces.size(); ++i)
    if (string_field(ifaces[i], "name") == ifname && !string_field(ifaces[i], "sandbox").empty()) {
      index = static_cast<int64_t>(i);
      out.mac = string_field(ifaces[i], "mac");
    }
  for (const auto& ip : array_field(result, "ips")) {
    if (!ip.is_object()) continue;
    std::string addr = string_field(ip, "address");
    if (index >= 0 && ip.contains("interface") &&
        !(ip["interface"].is_number_integer() && ip["interface"].get<int64_t>() == index))
      continue;
    bool v6 = addr.find(':') != std::string::npos;
    std::string& a = v6 ? out.address6 : out.address;
    if (!a.empty()) continue;  // the first of each family
    a = addr;
    (v6 ? out.gateway6 : out.gateway) = string_field(ip, "gateway");
  }
  return out;
}

}  // namespace vessel::network
