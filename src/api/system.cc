// _ping, version, info, system df.
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "api/routes.h"
#include "manager/containers.h"
#include "manager/rootfs.h"

namespace vessel::api {

using nlohmann::json;

namespace {

std::string kernel_release() {
  utsname u{};
  ::uname(&u);
  return u.release;
}

std::string go_arch() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

std::string os_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  return "Linux";
}

void ping(manager::Store&, const Request&, Conn& c, const Params&) {
  c.respond(200, "text/plain; charset=utf-8", "OK");
}

void version(manager::Store&, const Request&, Conn& c, const Params&) {
  json details = {{"ApiVersion", "1.41"},
                  {"MinAPIVersion", "1.24"},
                  {"Os", "linux"},
                  {"Arch", go_arch()},
                  {"KernelVersion", kernel_release()}};
  c.json(200,
         {{"Platform", {{"Name", "Vessel Engine"}}},
          {"Components", {{{"Name", "Engine"}, {"Version", VESSEL_VERSION}, {"Details", details}}}},
          {"Version", VESSEL_VERSION},
          {"ApiVersion", "1.41"},
          {"MinAPIVersion", "1.24"},
          {"GitCommit", ""},
          {"GoVersion", ""},
          {"Os", "linux"},
          {"Arch", go_arch()},
          {"KernelVersion", kernel_release()},
          {"BuildTime", ""}});
}

void info(manager::Store& store, const Request&, Conn& c, const Params&) {
  int running = 0, paused = 0, stopped = 0, total = 0;
  for (auto rec : store.containers()) {
    rec = manager::refresh(store, rec);
    ++total;
    if (rec.state == "running" || rec.state == "restarting")
      ++running;
    else if (rec.state == "paused")
      ++paused;
    else
      ++stopped;
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  utsname u{};
  ::uname(&u);
  c.json(
      200,
      {{"ID", "vessel"},
       {"Containers", total},
       {"ContainersRunning", running},
       {"ContainersPaused", paused},
       {"ContainersStopped", stopped},
       {"Images", store.images().size()},
       {"Driver", "overlay2"},
       {"DriverStatus", json::array()},
       {"DockerRootDir", store.paths().root},
       {"Plugins",
        {{"Volume", {"local"}}, {"Network", {"bridge", "host", "none"}}, {"Log", {"json-file"}}}},
       {"MemoryLimit", true},
       {"SwapLimit", true},
       {"CpuCfsPeriod", true},
       {"CpuCfsQuota", true},
       {"PidsLimit", true},
       {"OomKillDisable", false},
       {"IPv4Forwarding", true},
       {"Debug", false},
       {"NFd", 0},
       {"NGoroutines", 0},
       {"SystemTime", manager::now_rfc3339()},
       {"LoggingDriver", "json-file"},
       {"CgroupDriver", "cgroupfs"},
       {"CgroupVersion", ::access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "2" : "1"},
       {"KernelVersion", kernel_release()},
       {"OperatingSystem", os_name()},
       {"OSVersion", ""},
       {"OSType", "linux"},
       {"Architecture", u.machine},
       {"NCPU", ::sysconf(_SC_NPROCESSORS_ONLN)},
       {"MemTotal", static_cast<int64_t>(pages) * page},
       {"IndexServerAddress", "https://index.docker.io/v1/"},
       {"RegistryConfig",
        {{"InsecureRegistryCIDRs", {"127.0.0.0/8"}},
         {"IndexConfigs", json::object()},
         {"Mirrors", json::array()}}},
       {"Name", host},
       {"Labels", json::array()},
       {"ExperimentalBuild", false},
       {"ServerVersion", VESSEL_VERSION},
       {"Runtimes", {{"vessel-runtime", {{"path", "vessel-runtime"}}}}},
       {"DefaultRuntime", "vessel-runtime"},
       {"Swarm",
        {{"NodeID", ""},
         {"NodeAddr", ""},
         {"LocalNodeState", "inactive"},
         {"ControlAvailable", false},
         {"Error", ""},
         {"RemoteManagers", nullptr}}},
       {"LiveRestoreEnabled", true},
       {"Isolation", ""},
       {"InitBinary", "vessel-init"},
       {"SecurityOptions", {"name=seccomp,profile=default"}},
       {"Warnings", json::array()}});
}

// Bytes in the regular files under `dir` (not following symlinks, staying on its filesystem);
// -1 when it cannot be read.
int64_t disk_usage(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return -1;
  int64_t total = 0;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2) && !it->is_symlink(e2))
      total += static_cast<int64_t>(it->file_size(e2));
  }
  return ec ? -1 : total;
}

void df(manager::Store& store, const Request&, Conn& c, const Params&) {
  int64_t layers = 0;
  json images = json::array(), containers = json::array(), volumes = json::array();
  std::map<std::string, int> users;  // image ID -> containers
  for (const auto& rec : store.containers()) ++users[rec.image_id];
  for (const auto& i : store.images()) {
    layers += static_cast<int64_t>(i.size);
    images.push_back({{"Id", "sha256:" + i.id},
                      {"ParentId", ""},
                      {"RepoTags", i.tags},
                      {"RepoDigests", json::array()},
                      {"Created", 0},
                      {"Size", i.size},
                      {"VirtualSize", i.size},
                      {"SharedSize", -1},
                      {"Labels", json::object()},
                      {"Containers", users[i.id]}});
  }
  for (const auto& rec : store.containers()) {
    int64_t rw = disk_usage(manager::container_dir(store, rec.id) + "/upper");
    containers.push_back({{"Id", rec.id},
                          {"Names", {"/" + rec.name}},
                          {"Image", rec.image_name},
                          {"ImageID", "sha256:" + rec.image_id},
                          {"Command", ""},
                          {"Created", 0},
                          {"SizeRw", rw < 0 ? 0 : rw},
                          {"SizeRootFs", (rw < 0 ? 0 : rw) +
                                             [&] {
                                               auto img = store.image_by_id(rec.image_id);
                                               return img ? static_cast<int64_t>(img->size) : 0;
                                             }()},
                          {"Labels", json::object()},
                          {"State", rec.state},
                          {"Status", rec.state},
                          {"Mounts", json::array()}});
  }
  for (const auto& v : store.volumes())
    volumes.push_back(
        {{"Name", v.name},
         {"Driver", "local"},
         {"Mountpoint", v.mountpoint},
         {"Labels", v.labels},
         {"Scope", "local"},
         {"Options", json::object()},
         {"UsageData",
          {{"Size", disk_usage(v.mountpoint)}, {"RefCount", store.volume_users(v.name).size()}}}});
  c.json(200, {{"LayersSize", layers},
               {"Images", images},
               {"Containers", containers},
               {"Volumes", volumes},
               {"BuildCache", json::array()}});
}

}  // namespace

void add_system_routes(std::vector<Route>& r) {
  r.push_back({"GET", "/_ping", ping});
  r.push_back({"GET", "/version", version});
  r.push_back({"GET", "/info", info});
  r.push_back({"GET", "/system/df", df});
}

}  // namespace vessel::api
