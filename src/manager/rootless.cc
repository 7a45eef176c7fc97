#include "manager/rootless.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "util/error.h"
#include "util/file.h"
#include "util/subprocess.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

std::string user_name(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found) return "";
  return pw.pw_name;
}

std::string home_dir() {
  const char* h = std::getenv("HOME");
  if (h && *h) return h;
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &found) == 0 && found && pw.pw_dir)
    return pw.pw_dir;
  fail("rootless vessel: HOME is not set and uid {} has no passwd entry: give --root", ::getuid());
}

bool in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream ss(dirs);
  std::string d;
  while (std::getline(ss, d, ':'))
    if (!d.empty() && ::access((d + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

std::string delegated_cgroup(const std::string& cgroup_root, const std::string& proc_cgroup) {
  struct statfs fs {};
  if (::statfs(cgroup_root.c_str(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) return "";
  std::string own;
  try {
    std::stringstream ss(read_file(proc_cgroup));
    std::string line;
    while (std::getline(ss, line))
      if (line.rfind("0::", 0) == 0) own = line.substr(3);
  } catch (const Error&) {
    return "";
  }
  if (own.empty() || own[0] != '/') return "";
  // The topmost ancestor of our own cgroup that is the user's, with cgroup.procs writable:
  // the user may create cgroups there and move processes between them (both ends below it).
  std::string best;
  for (std::string p = own; p.size() > 1; p = p.substr(0, p.rfind('/'))) {
    std::string dir = cgroup_root + p;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid != ::geteuid() ||
        ::access((dir + "/cgroup.procs").c_str(), W_OK) != 0)
      break;
    best = p;
    if (p.rfind('/') == 0) break;
  }
  return best;
}

namespace {
bool g_in_rootless_netns = false;
}

bool running_rootless() { return g_in_rootless_netns || ::geteuid() != 0; }
void mark_in_rootless_netns() { g_in_rootless_netns = true; }

bool map_with_helpers(pid_t pid, const RootlessMappings& m) {
  for (auto [helper, maps] : {std::pair{"newuidmap", &m.uids}, std::pair{"newgidmap", &m.gids}}) {
    std::vector<std::string> argv = {helper, std::to_string(pid)};
    for (const auto& x : *maps)
      for (uint32_t v : {x.container_id, x.host_id, x.size}) argv.push_back(std::to_string(v));
    std::string prog = std::string("/usr/bin/") + helper;
    try {
      if (run_subprocess(prog, argv, {}, "", 10000).status != 0) return false;
    } catch (const Error&) {
      return false;
    }
  }
  return true;
}

std::string rootless_store_root() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  std::string base = xdg && *xdg && xdg[0] == '/' ? xdg : home_dir() + "/.local/share";
  return base + "/vessel";
}

std::string rootless_runroot() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg && xdg[0] == '/') return std::string(xdg) + "/vessel";
  std::string dir = "/tmp/vessel-run-" + std::to_string(::getuid());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail_errno("creating {}", dir);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) fail_errno("lstat {}", dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid())
    fail("rootless vessel: {} is not a directory of uid {} (set XDG_RUNTIME_DIR)", dir, ::getuid());
  return dir;
}

std::pair<uint32_t, uint32_t> subordinate_range(const std::string& text, const std::string& user,
                                                uid_t uid) {
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto a = line.find(':');
    auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string who = line.substr(0, a);
    if (who != user && who != std::to_string(uid)) continue;
    try {
      unsigned long start = std::stoul(line.substr(a + 1, b - a - 1));
      unsigned long count = std::stoul(line.substr(b + 1));
      if (count == 0 || start > 0xFFFFFFFFul || count > 0xFFFFFFFFul - start) continue;
      return {static_cast<uint32_t>(start), static_cast<uint32_t>(count)};
    } catch (const std::exception&) {
      continue;
    }
  }
  return {0, 0};
}

std::vector<oci::IdMapping> keep_id_mapping(uint32_t own, uint32_t start, uint32_t count) {
  count = std::min<uint32_t>(count, 65536);
  if (count < own) return {};
  std::vector<oci::IdMapping> out;
  if (own > 0) out.push_back({0, start, own});
  out.push_back({own, own, 1});
  if (count > own) out.push_back({own + 1, start + own, count - own});
  return out;
}

RootlessMappings rootless_mappings(const std::string& subuid_file, const std::string& subgid_file,
                                   bool keep_id) {
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  std::string name = user_name(uid);
  std::string who = name.empty() ? "uid " + std::to_string(uid)
                                 : "user " + name + " (uid " + std::to_string(uid) + ")";
  RootlessMappings m;
  for (auto [file, out, own, helper] :
       {std::tuple{subuid_file, &m.uids, static_cast<uint32_t>(uid), "newuidmap"},
        std::tuple{subgid_file, &m.gids, static_cast<uint32_t>(gid), "newgidmap"}}) {
    std::string text;
    try {
      text = read_file(file);
    } catch (const Error&) {
    }
    auto [start, count] = subordinate_range(text, name, uid);
    if (count == 0)
      fail(
          "rootless vessel needs subordinate ids: {} has no entry for {} (as root: usermod "
          "--add-subuids 100000-165535 --add-subgids 100000-165535 {})",
          file, who, name.empty() ? std::to_string(uid) : name);
    if (!in_path(helper))
      fail("rootless vessel needs {} to map the ids of {}: install Debian's uidmap package", helper,
           file);
    if (keep_id) {
      *out = keep_id_mapping(own, start, count);
      if (out->empty())
        fail(
            "--userns=keep-id: the subordinate range of {} in {} has {} ids, fewer than the {} "
            "needed below id {}",
            who, file, count, own, own);
      continue;
    }
    out->push_back({0, own, 1});
    out->push_back({1, start, std::min<uint32_t>(count, 65536)});
  }
  return m;
}

void apply_rootless_to_spec(json& spec, const RootlessMappings& m) {
  json& lin = spec["linux"];
  auto to_json = [](const std::vector<oci::IdMapping>& v) {
    json a = json::array();
    for (const auto& x : v)
      a.push_back({{"containerID", x.container_id}, {"hostID", x.host_id}, {"size", x.size}});
    return a;
  };
  lin["uidMappings"] = to_json(m.uids);
  lin["gidMappings"] = to_json(m.gids);
  bool own_netns = false;
  json namespaces = json::array({{{"type", "user"}}});
  for (const auto& ns : lin.value("namespaces", json::array())) {
    if (ns.value("type", "") == "user") continue;
    if (ns.value("type", "") == "network" && ns.value("path", "").empty()) own_netns = true;
    namespaces.push_back(ns);
  }
  lin["namespaces"] = namespaces;
  for (auto& m : spec["mounts"])
    if (m.value("type", "") == "sysfs" && !own_netns) {
      m["type"] = "bind";
      m["source"] = "/sys";
      m["options"] = json::array({"rbind", "nosuid", "noexec", "nodev", "ro"});
    }
  // Limits need a cgroup the user may write: with a delegated cgroup v2 subtree the
  // container's cgroup goes there; without one, the runtime skips the cgroup: say so once
  // instead of pretending.
  json& res = lin["resources"];
  bool limits = false;
  for (const char* k : {"memory", "cpu", "pids", "blockIO"}) limits |= res.contains(k);
  std::string delegated = delegated_cgroup();
  if (!delegated.empty()) {
    std::string leaf = lin.value("cgroupsPath", "/vessel");
    lin["cgroupsPath"] = delegated + leaf.substr(leaf.rfind('/'));
  } else if (limits) {
    std::fprintf(stderr,
                 "vessel: warning: rootless without a delegated cgroup v2 subtree: --memory, "
                 "--cpus, --pids-limit and other limits are ignored\n");
    for (const char* k : {"memory", "cpu", "pids", "blockIO"}) res.erase(k);
  }
  // Device rules and nodes are root's business: a user gets the runtime's defaults.
  res.erase("devices");
}

bool in_user_namespace(const std::function<bool()>& fn) {
  RootlessMappings m = rootless_mappings();
  int up[2], down[2];
  if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd up_r(up[0]), up_w(up[1]), down_r(down[0]), down_w(down[1]);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    char c = 0;
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(2);
    if (::write(up_w.get(), "u", 1) != 1 || ::read(down_r.get(), &c, 1) != 1 || c != 'm')
      ::_exit(3);
    bool ok = false;
    try {
      ok = fn();
    } catch (...) {
    }
    ::_exit(ok ? 0 : 1);
  }
  up_w.reset();
  down_r.reset();
  char c = 0;
  bool mapped = ::read(up_r.get(), &c, 1) == 1 && map_with_helpers(pid, m);
  if (mapped) mapped = ::write(down_w.get(), "m", 1) == 1;
  down_w.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return mapped && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool store_in_user_namespace() { return ::geteuid() != 0; }

std::string in_user_namespace_or_throw(const std::string& what,
                                       const std::function<std::string()>& fn, pid_t join,
                                       const RootlessMappings* mappings) {
  if (!store_in_user_namespace()) return fn();
  RootlessMappings m;
  if (join <= 0) m = mappings ? *mappings : rootless_mappings();
  std::string join_ns = join > 0 ? "/proc/" + std::to_string(join) + "/ns/user" : "";
  int up[2], down[2], res[2];
  if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(res, O_CLOEXEC) != 0)
    fail_errno("pipe");
  UniqueFd up_r(up[0]), up_w(up[1]), down_r(down[0]), down_w(down[1]), res_r(res[0]), res_w(res[1]);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    // The answer: "+" and the result, or "-" and the error's message.
    std::string out;
    try {
      if (join > 0) {
        UniqueFd ns(::open(join_ns.c_str(), O_RDONLY | O_CLOEXEC));
        if (!ns || ::setns(ns.get(), CLONE_NEWUSER) != 0)
          fail_errno("joining the user namespace {}", join_ns);
      } else {
        char c = 0;
        if (::unshare(CLONE_NEWUSER) != 0) ::_exit(2);
        if (::write(up_w.get(), "u", 1) != 1 || ::read(down_r.get(), &c, 1) != 1 || c != 'm')
          ::_exit(3);
      }
      out = "+" + fn();
    } catch (const std::exception& e) {
      out = std::string("-") + e.what();
    } catch (...) {
      out = "-unknown error";
    }
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::write(res_w.get(), out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(4);
      done += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  up_w.reset();
  down_r.reset();
  res_w.reset();
  bool mapped = true;
  if (join <= 0) {
    char c = 0;
    mapped = ::read(up_r.get(), &c, 1) == 1 && map_with_helpers(pid, m);
    if (mapped) mapped = ::write(down_w.get(), "m", 1) == 1;
  }
  down_w.reset();
  std::string answer;
  try {
    answer = read_fd(res_r.get());
  } catch (const Error&) {
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string prefix = what.empty() ? "" : what + ": ";
  if (!mapped)
    fail("{}the user namespace with {}'s subordinate ids could not be set up (newuidmap)", prefix,
         user_name(::getuid()));
  if (answer.empty() || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("{}the process in the user namespace ended without an answer (status {})", prefix, status);
  if (answer[0] == '-') fail("{}{}", prefix, answer.substr(1));
  return answer.substr(1);
}

void remove_container_tree(const std::string& path) {
  try {
    remove_tree(path);
    return;
  } catch (const Error&) {
    if (!running_rootless() || !path_exists(path)) throw;
  }
  if (!in_user_namespace([&] {
        remove_tree(path);
        return true;
      }))
    fail(
        "removing {}: files of the container's other ids could not be removed from a user "
        "namespace with {}'s subordinate ids",
        path, user_name(::getuid()));
}

}  // namespace vessel::manager
