// vessel info (= vessel system info): the effective settings and where each came from, and
// facts about the host; vessel version. Also where the settings file is read (apply_config).
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

#include "cgroups/detect.h"
#include "cli/manager/commands.h"
#include "manager/config.h"
#include "manager/oci_runtime.h"
#include "manager/rootfs.h"
#include "manager/userns.h"
#include "network/cni.h"
#include "oci/spec.h"
#include "util/error.h"
#include "util/file.h"

#ifndef VESSEL_GIT_COMMIT
#define VESSEL_GIT_COMMIT "unknown"
#endif

namespace vessel::cli {

using nlohmann::json;

namespace {

// The runtime new containers get, and its version (`PROGRAM --version`, first line + commit).
std::string runtime_version() { return manager::runtime_version_of(manager::configured_runtime()); }

std::string runtime_program(Globals& g) {
  std::string bin = manager::configured_runtime();
  if (bin.empty()) return "vessel-runtime (built in: the runtime library in vessel's own process)";
  return bin + " (OCI runtime program; its state in " +
         manager::external_runtime_root(g.store(), bin) + ")";
}

std::string cgroup_version() {
  switch (cgroups::detect_layout()) {
    case cgroups::Layout::v1:
      return "v1";
    case cgroups::Layout::hybrid:
      return "hybrid (v1 controllers, v2 mounted beside them)";
    case cgroups::Layout::v2:
      return "v2";
  }
  return "unknown";
}

json plugins_found() {
  json out = json::object();
  for (const std::string& dir : network::default_plugin_dirs()) {
    std::vector<std::string> found;
    for (const char* p : {"bridge", "host-local", "portmap", "firewall", "loopback"})
      if (::access((dir + "/" + p).c_str(), X_OK) == 0) found.push_back(p);
    if (!found.empty()) out[dir] = found;
  }
  return out;
}

json info_json(Globals& g) {
  json settings = json::object();
  for (const auto& [key, v] : manager::config().all())
    settings[key] = {{"value", v.value}, {"origin", v.origin}};
  struct utsname u {};
  ::uname(&u);
  json host = {
      {"kernel", std::string(u.release)},
      {"cgroup_version", cgroup_version()},
      {"cgroup_driver", "cgroupfs"},
      {"storage_driver", manager::config().str("storage.driver").empty()
                             ? "automatic: " + manager::describe_storage_driver(g.store())
                             : manager::config().str("storage.driver")},
      {"runtime", runtime_version()},
      {"runtime_program", runtime_program(g)},
      {"cni_plugins", plugins_found()},
  };
  return {{"settings", settings},
          {"config_files", manager::config().files()},
          {"store", {{"root", g.root}, {"runroot", g.store().paths().runroot}}},
          {"host", host}};
}

std::string show(const json& v) {
  if (v.is_string()) return v.get<std::string>().empty() ? "(unset)" : v.get<std::string>();
  if (v.empty()) return "(unset)";
  return v.dump();
}

int print_info(Globals& g, const std::string& format) {
  json j = info_json(g);
  if (format == "json") {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("Settings (value, then where it came from):\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, v] : j["settings"].items())
    rows.push_back({"  " + key, show(v["value"]), v["origin"].get<std::string>()});
  print_table(rows);
  std::string files;
  for (const auto& f : j["config_files"])
    files += (files.empty() ? "" : ", ") + f.get<std::string>();
  std::printf("Config files: %s\n", files.empty() ? "(none)" : files.c_str());
  std::printf("Store: %s (runtime state %s)\n", j["store"]["root"].get<std::string>().c_str(),
              j["store"]["runroot"].get<std::string>().c_str());
  std::printf("Host:\n");
  const json& h = j["host"];
  std::printf("  kernel: %s\n", h["kernel"].get<std::string>().c_str());
  std::printf("  cgroup version: %s\n", h["cgroup_version"].get<std::string>().c_str());
  std::printf("  cgroup driver: %s\n", h["cgroup_driver"].get<std::string>().c_str());
  std::printf("  storage driver: %s\n", h["storage_driver"].get<std::string>().c_str());
  std::printf("  runtime: %s\n", h["runtime"].get<std::string>().c_str());
  std::printf("  runtime program: %s\n", h["runtime_program"].get<std::string>().c_str());
  if (h["cni_plugins"].empty())
    std::printf("  CNI plugins: none found (package containernetworking-plugins)\n");
  for (const auto& [dir, names] : h["cni_plugins"].items()) {
    std::string n;
    for (const auto& p : names) n += " " + p.get<std::string>();
    std::printf("  CNI plugins in %s:%s\n", dir.c_str(), n.c_str());
  }
  return 0;
}

void add_info_command(CLI::App* parent, Globals& g, Action& action, const std::string& desc) {
  auto* info = parent->add_subcommand("info", desc);
  auto format = std::make_shared<std::string>("text");
  info->add_option("--format", *format, "text or json")->check(CLI::IsMember({"text", "json"}));
  info->callback(
      [&g, &action, format] { action = [&g, format]() -> int { return print_info(g, *format); }; });
}

}  // namespace

void apply_config(CLI::App& app, Globals& g, const std::string& config_file,
                  std::string& storage_driver) {
  // What the build runs (man pages, the completion script) does not depend on this host's files.
  if (app.got_subcommand("__generate-man") || app.got_subcommand("completion")) return;
  manager::Config c;
  if (!config_file.empty()) {
    if (!path_exists(config_file)) fail("--config {}: no such file", config_file);
    c.load_file(config_file);
  } else {
    for (const auto& f : manager::default_config_files()) c.load_file(f);
  }
  // Flags (and their environment variables) win over the file.
  if (app.count("--root") > 0) {
    c.set("storage.root", g.root, "--root");
  } else if (!c.str("storage.root").empty()) {
    g.root = c.str("storage.root");
  } else {
    c.set("storage.root", g.root, "default");
  }
  if (app.count("--runroot") > 0) {
    c.set("storage.runroot", g.runroot, "--runroot");
  } else if (!c.str("storage.runroot").empty()) {
    g.runroot = c.str("storage.runroot");
  }
  if (app.count("--storage-driver") > 0) {
    c.set("storage.driver", storage_driver, "--storage-driver or $VESSEL_STORAGE_DRIVER");
  } else if (!c.str("storage.driver").empty()) {
    storage_driver = c.str("storage.driver");
  }
  manager::set_default_userns(c.str("containers.userns"));
  manager::set_config(std::move(c));
}

void add_info(CLI::App& app, Globals& g, Action& action) {
  add_info_command(&app, g, action,
                   "the effective settings (and where each came from) and host facts");
  for (CLI::App* sys : app.get_subcommands([](CLI::App* a) { return a->get_name() == "system"; }))
    add_info_command(sys, g, action, "the same as vessel info");

  auto* version =
      app.add_subcommand("version", "the versions of vessel and its runtime, and the commit");
  version->callback([&action] {
    action = []() -> int {
      std::printf("vessel version %s\ncommit: %s\nspec: %s\nruntime: %s\n", VESSEL_VERSION,
                  VESSEL_GIT_COMMIT, oci::kSpecVersion, runtime_version().c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
