#include "manager/rootless_netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <tuple>

#include "linux/terminal.h"
#include "manager/network_state.h"
#include "manager/networks.h"
#include "manager/rootless.h"
#include "manager/slirp.h"
#include "network/netns.h"
#include "network/ports.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/subprocess.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

constexpr const char* kSlirpId = "infra";

std::string infra_dir(Store& store) { return store.paths().runroot + "/netns-infra"; }

std::string read_or_empty(const std::string& path) {
  try {
    return read_file(path);
  } catch (const Error&) {
    return "";
  }
}

int int_in(const std::string& path) {
  try {
    return std::stoi(read_or_empty(path));
  } catch (const std::exception&) {
    return 0;
  }
}

// Whether PID is the keeper of the infra in DIR (not a recycled process ID, not a zombie).
bool is_keeper(int pid, const std::string& d) {
  if (pid <= 0) return false;
  std::string cmdline = read_or_empty("/proc/" + std::to_string(pid) + "/cmdline");
  if (cmdline.find(std::string("--rootless-netns") + '\0' + d + '\0') == std::string::npos)
    return false;
  std::string stat = read_or_empty("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// Serializes starting, using and stopping the infra among this user's vessel processes.
class InfraLock {
 public:
  explicit InfraLock(Store& store) {
    mkdir_p(store.paths().runroot, 0700);
    fd_.reset(::open((store.paths().runroot + "/netns-infra.lock").c_str(),
                     O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (fd_) ::flock(fd_.get(), LOCK_EX);
  }

 private:
  UniqueFd fd_;
};

// Starts the keeper as a daemon of its own (double fork) and waits until the infra is up.
void spawn_keeper(const std::string& d) {
  std::string bin = own_program_dir() + "/vessel-monitor-ctl";
  if (::access(bin.c_str(), X_OK) != 0)
    fail("user networks: {} not found (it keeps the user's network namespace)", bin);
  std::string log_path = d + "/infra.log";
  std::vector<std::string> args = {bin, "--rootless-netns", d, "--ready-fd", "3"};
  std::string msg = spawn_daemon(args, log_path, 0600, "user networks: the keeper");
  int keeper = 0, nspid = 0;
  if (std::sscanf(msg.c_str(), "ok %d %d", &keeper, &nspid) != 2)
    fail("user networks: the user's network namespace did not start: {}",
         msg.empty() ? "its keeper exited without a word" : msg);
  write_file_atomic(d + "/nspid", std::to_string(nspid) + "\n", 0600);
  write_file_atomic(d + "/pid", std::to_string(keeper) + "\n", 0600);
}

// The infra's namespace process, started when none runs. Callers hold InfraLock.
pid_t ensure_infra(Store& store) {
  std::string d = infra_dir(store);
  if (is_keeper(int_in(d + "/pid"), d)) return int_in(d + "/nspid");
  if (path_exists(d)) remove_tree(d);
  mkdir_p(d, 0700);
  spawn_keeper(d);
  return int_in(d + "/nspid");
}

void stop_infra(Store& store) {
  std::string d = infra_dir(store);
  int pid = int_in(d + "/pid");
  if (is_keeper(pid, d)) {
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 500 && is_keeper(pid, d); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (is_keeper(pid, d)) ::kill(pid, SIGKILL);
  }
  if (path_exists(d)) remove_tree(d);
}

bool any_network_state(Store& store) {
  for (const auto& c : store.containers())
    if (has_network_state(store, c.id)) return true;
  return false;
}

// `keep` (host ids) in the ids of the infra's user namespace, whose mapping is `parent`.
std::string relative_map(const std::vector<oci::IdMapping>& keep,
                         const std::vector<oci::IdMapping>& parent) {
  std::string out;
  for (const auto& k : keep) {
    bool found = false;
    for (const auto& p : parent)
      if (k.host_id >= p.host_id && uint64_t{k.host_id} + k.size <= uint64_t{p.host_id} + p.size) {
        out += fmt::format("{} {} {}\n", k.container_id, p.container_id + (k.host_id - p.host_id),
                           k.size);
        found = true;
        break;
      }
    if (!found)
      fail("--userns=keep-id: host ids {}..{} are not in the user's network user namespace",
           k.host_id, k.host_id + k.size - 1);
  }
  return out;
}

// In a forked child: a user namespace of its own, which the parent maps between the child's
// "u" on `up` and the parent's "m" on `down`, then a network namespace owned by it with lo up.
// The child exits (2, 3) on failure.
void child_enter_mapped_userns_and_netns(int up, int down) {
  char c = 0;
  if (::unshare(CLONE_NEWUSER) != 0 || ::write(up, "u", 1) != 1 || ::read(down, &c, 1) != 1 ||
      c != 'm')
    ::_exit(2);
  if (::unshare(CLONE_NEWNET) != 0 || network::bring_loopback_up() != 0) ::_exit(3);
}

// In a forked child: says `ready` on `up`, then keeps its namespaces until the parent closes
// `down`.
[[noreturn]] void child_hold_namespaces(int up, int down, const char* ready) {
  if (::write(up, ready, 1) != 1) ::_exit(5);
  char c;
  ssize_t r;
  do r = ::read(down, &c, 1);
  while (r < 0 && errno == EINTR);
  ::_exit(0);
}

// Root in the infra: a user namespace of the container's own below the infra's, mapped with
// `uid_map`/`gid_map` (infra ids; root there may write any), and a network namespace owned by
// it with lo up. The infra's root keeps CAP_NET_ADMIN over both (it is their owner's parent
// namespace), so the plugins still wire the container in; the container's root gets none over
// the infra. Returns {user, net}.
std::pair<UniqueFd, UniqueFd> own_user_and_net(const std::string& uid_map,
                                               const std::string& gid_map) {
  int up[2], down[2];
  if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd up_r(up[0]), up_w(up[1]), down_r(down[0]), down_w(down[1]);
  pid_t child = ::fork();
  if (child < 0) fail_errno("fork");
  if (child == 0) {
    up_r.reset();
    down_w.reset();
    child_enter_mapped_userns_and_netns(up_w.get(), down_r.get());
    child_hold_namespaces(up_w.get(), down_r.get(), "n");
  }
  up_w.reset();
  down_r.reset();
  auto reap = [&] {
    down_w.reset();
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  };
  std::string proc = "/proc/" + std::to_string(child) + "/";
  std::pair<UniqueFd, UniqueFd> out;
  try {
    char c = 0;
    if (::read(up_r.get(), &c, 1) != 1 || c != 'u')
      fail_errno("--userns=keep-id: creating the container's user namespace");
    write_file(proc + "uid_map", uid_map, O_WRONLY | O_CLOEXEC);
    write_file(proc + "gid_map", gid_map, O_WRONLY | O_CLOEXEC);
    if (::write(down_w.get(), "m", 1) != 1 || ::read(up_r.get(), &c, 1) != 1 || c != 'n')
      fail("--userns=keep-id: the container's network namespace could not be created");
    out.first.reset(::open((proc + "ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    out.second.reset(::open((proc + "ns/net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!out.first || !out.second) fail_errno("opening the namespaces of process {}", child);
  } catch (...) {
    reap();
    throw;
  }
  reap();
  return out;
}

// The network namespace of a running container `pid`, opened in the infra (root there).
UniqueFd container_netns(const std::string& id, pid_t pid) {
  if (pid <= 0) fail("container {} has no process", short_id(id));
  UniqueFd ns(::open(fmt::format("/proc/{}/ns/net", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) fail_errno("the network namespace of container {} (process {})", short_id(id), pid);
  return ns;
}

}  // namespace

// ---- the keeper ----

int run_rootless_netns(const std::string& dir, int ready_fd) {
  auto say = [&](const std::string& s) {
    std::string line = s + "\n";
    ssize_t ignored = ::write(ready_fd, line.data(), line.size());
    (void)ignored;
  };
  // Nothing started here may hold the ready pipe open: its EOF is what the spawner waits for.
  ::fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
  try {
    RootlessMappings m = rootless_mappings();
    int up[2], down[2];
    if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) fail_errno("pipe");
    UniqueFd up_r(up[0]), up_w(up[1]), down_r(down[0]), down_w(down[1]);
    pid_t keeper = ::getpid();
    pid_t ns = ::fork();
    if (ns < 0) fail_errno("fork");
    if (ns == 0) {
      // The namespaces' process: a user namespace (mapped by the keeper), a network namespace
      // owned by it with lo up, forwarding on and tap0 (slirp4netns's) masqueraded; then it
      // waits for the keeper to go.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != keeper) ::_exit(1);
      ::close(ready_fd);
      up_r.reset();
      down_w.reset();
      child_enter_mapped_userns_and_netns(up_w.get(), down_r.get());
      try {
        write_file("/proc/sys/net/ipv4/ip_forward", "1\n", O_WRONLY | O_CLOEXEC);
        std::string ipt =
            path_exists("/usr/sbin/iptables") ? "/usr/sbin/iptables" : "/sbin/iptables";
        auto r = run_subprocess(
            ipt, {ipt, "-t", "nat", "-A", "POSTROUTING", "-o", "tap0", "-j", "MASQUERADE"},
            {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, "", 30000);
        if (r.status != 0) fail("iptables MASQUERADE on tap0: {}", r.err);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        ::_exit(4);
      }
      child_hold_namespaces(up_w.get(), down_r.get(), "r");
    }
    up_w.reset();
    down_r.reset();
    char c = 0;
    if (::read(up_r.get(), &c, 1) != 1 || c != 'u' || !map_with_helpers(ns, m) ||
        ::write(down_w.get(), "m", 1) != 1)
      fail("the user namespace could not be mapped with newuidmap/newgidmap");
    if (::read(up_r.get(), &c, 1) != 1 || c != 'r')
      fail("the network namespace could not be set up (see {}/infra.log)", dir);
    UniqueFd slirp = start_slirp4netns(ns, {}, dir, kSlirpId, true);
    sigset_t sigs;
    sigemptyset(&sigs);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&sigs, s);
    ::sigprocmask(SIG_BLOCK, &sigs, nullptr);
    say(fmt::format("ok {} {}", keeper, ns));
    ::close(ready_fd);
    for (;;) {
      int sig = ::sigwaitinfo(&sigs, nullptr);
      if (sig == SIGCHLD && ::waitpid(ns, nullptr, WNOHANG) == 0) continue;
      if (sig > 0) break;
    }
    ::kill(ns, SIGKILL);
    down_w.reset();
    slirp.reset();  // slirp4netns ends
    while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
    }
    ::unlink(slirp_socket(dir, kSlirpId).c_str());
    return 0;
  } catch (const std::exception& e) {
    say(std::string("error: ") + e.what());
    return 1;
  }
}

// ---- working in the infra ----

pid_t rootless_netns_pid(Store& store) {
  std::string d = infra_dir(store);
  return is_keeper(int_in(d + "/pid"), d) ? int_in(d + "/nspid") : 0;
}

void in_rootless_netns(Store& store, const std::function<void(Store&)>& fn) {
  pid_t ns = rootless_netns_pid(store);
  if (ns <= 0) fail("user networks: the user's network namespace is not running");
  std::string base = "/proc/" + std::to_string(ns) + "/ns/";
  UniqueFd user(::open((base + "user").c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd net(::open((base + "net").c_str(), O_RDONLY | O_CLOEXEC));
  if (!user || !net) fail_errno("user networks: opening the namespaces of process {}", ns);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t child = ::fork();
  if (child < 0) fail_errno("fork");
  if (child == 0) {
    rd.reset();
    std::string err;
    if (::setns(user.get(), CLONE_NEWUSER) != 0 || ::setns(net.get(), CLONE_NEWNET) != 0) {
      err = std::string("joining the user's network namespace: ") + std::strerror(errno);
    } else {
      mark_in_rootless_netns();
      try {
        Store s(store.paths());
        fn(s);
      } catch (const std::exception& e) {
        err = e.what();
      }
    }
    if (!err.empty()) {
      ssize_t ignored = ::write(wr.get(), err.data(), err.size());
      (void)ignored;
    }
    ::_exit(err.empty() ? 0 : 1);
  }
  wr.reset();
  std::string msg = read_fd(rd.get());  // the child's error, if any
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("{}",
         msg.empty() ? "user networks: the helper in the user's network namespace failed" : msg);
}

// ---- a container's attachments ----

UniqueFd setup_rootless_network(Store& store, const std::string& id, const RunOptions& opts) {
  // keep-id: the container's mapping (host ids) in the infra's ids, for a user namespace of
  // its own below the infra's.
  std::string uid_map, gid_map;
  pending_rootless_userns().reset();
  if (opts.userns == "keep-id") {
    RootlessMappings infra = rootless_mappings(),
                     keep = rootless_mappings("/etc/subuid", "/etc/subgid", true);
    uid_map = relative_map(keep.uids, infra.uids);
    gid_map = relative_map(keep.gids, infra.gids);
  }
  auto ports = opts.publish;
  network::assign_free_host_ports(ports);  // free on the host, where slirp4netns listens
  InfraLock lock(store);
  ensure_infra(store);
  if (has_network_state(store, id))  // a crash's leftovers
    in_rootless_netns(store, [&](Store& s) { teardown_container_network(s, id); });
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) fail_errno("socketpair");
  UniqueFd mine(sp[0]), theirs(sp[1]);
  in_rootless_netns(store, [&](Store& s) {
    UniqueFd ctr, own_user;
    if (!uid_map.empty()) {
      std::tie(own_user, ctr) = own_user_and_net(uid_map, gid_map);
    } else {
      UniqueFd infra_net(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
      if (!infra_net || ::unshare(CLONE_NEWNET) != 0)
        fail_errno("creating the network namespace of container {}", short_id(id));
      ctr.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
      int lo = network::bring_loopback_up();
      if (::setns(infra_net.get(), CLONE_NEWNET) != 0 || !ctr || lo != 0)
        fail_errno("setting up the network namespace of container {}", short_id(id));
    }
    // The plugins (children of this process) reach the new namespace through our fd.
    std::string path = fmt::format("/proc/{}/fd/{}", ::getpid(), ctr.get());
    mkdir_p(detail::ipam_dir(s), 0700);
    json st = {{"netns", path}, {"attachments", json::array()}, {"ports", ports}};
    detail::save_state(s, id, st);
    std::set<std::string> nets;
    try {
      // portmap's rules in the infra: whatever slirp4netns brings in on the host port.
      auto inside = ports;
      for (auto& p : inside) p.host_ip.clear();
      for (size_t i = 0; i < opts.networks.size(); ++i) {
        auto n = s.network(opts.networks[i]);
        if (!n) fail("network {} of this container no longer exists", opts.networks[i]);
        json rc = json::object();
        if (i == 0 && !inside.empty()) rc["portMappings"] = network::to_cni_port_mappings(inside);
        nets.insert(n->name);
        detail::add_attachment(s, id, st, *n, "eth" + std::to_string(i), rc);
      }
      // The namespace ends with the container: DEL later has none to enter.
      st["netns"] = "";
      detail::save_state(s, id, st);
    } catch (...) {
      st["netns"] = "";
      detail::save_state(s, id, st);
      teardown_container_network(s, id);
      throw;
    }
    detail::refresh_hosts(s, nets, id);
    linux::send_fd(theirs.get(), ctr.get(), "netns");
    if (own_user) linux::send_fd(theirs.get(), own_user.get(), "userns");
  });
  UniqueFd netns = linux::recv_fd(mine.get());
  if (!uid_map.empty()) pending_rootless_userns() = linux::recv_fd(mine.get());
  // Published ports: the host's side of each, through the infra's slirp4netns.
  try {
    json st = detail::read_state(store, id);
    json ids = json::array();
    std::string sock = slirp_socket(infra_dir(store), kSlirpId);
    for (const auto& p : ports) {
      ids.push_back(add_slirp_forward(sock, p));
      st["slirp_forwards"] = ids;
      detail::save_state(store, id, st);
    }
  } catch (...) {
    netns.reset();
    pending_rootless_userns().reset();
    in_rootless_netns(store, [&](Store& s) { teardown_container_network(s, id); });
    throw;
  }
  return netns;
}

void teardown_rootless_network(Store& store, const std::string& id) {
  InfraLock lock(store);
  json st = detail::read_state(store, id);
  if (st.is_object()) {
    std::string sock = slirp_socket(infra_dir(store), kSlirpId);
    if (rootless_netns_pid(store) > 0)
      for (const auto& f : st.value("slirp_forwards", json::array())) try {
          remove_slirp_forward(sock, f.get<int>());
        } catch (const Error& e) {
          log::warn(e.what());
        }
    // CNI DEL releases the addresses and removes the rules in the infra (started again for
    // it after a crash took it away).
    try {
      ensure_infra(store);
      in_rootless_netns(store, [&](Store& s) { teardown_container_network(s, id); });
    } catch (const Error& e) {
      log::warn(e.what());
    }
  }
  ::unlink((store.paths().container(id) + "/network.json").c_str());
  if (!any_network_state(store)) stop_infra(store);
}

void attach_rootless_network(Store& store, const std::string& id, pid_t pid, const NetworkRecord& n,
                             const std::string& ifname) {
  InfraLock lock(store);
  in_rootless_netns(store, [&](Store& s) {
    UniqueFd ns = container_netns(id, pid);
    json st = detail::read_state(s, id);
    if (!st.is_object()) fail("container {} has no network to connect", short_id(id));
    size_t before = st["attachments"].size();
    st["netns"] = fmt::format("/proc/{}/fd/{}", ::getpid(), ns.get());
    try {
      detail::add_attachment(s, id, st, n, ifname, json::object());
    } catch (...) {
      // A recorded but failed attachment is forgotten (ADD undid itself).
      while (st["attachments"].size() > before) st["attachments"].erase(before);
      st["netns"] = "";
      detail::save_state(s, id, st);
      throw;
    }
    st["netns"] = "";
    detail::save_state(s, id, st);
  });
}

void detach_rootless_network(Store& store, const std::string& id, pid_t pid,
                             const std::string& network) {
  InfraLock lock(store);
  in_rootless_netns(store, [&](Store& s) {
    UniqueFd ns = container_netns(id, pid);
    std::string path = fmt::format("/proc/{}/fd/{}", ::getpid(), ns.get());
    json st = detail::read_state(s, id);
    if (!st.is_object()) return;
    json kept = json::array();
    for (const auto& a : st["attachments"]) {
      if (a.value("network", "") != network) {
        kept.push_back(a);
        continue;
      }
      // DEL in the container's namespace: its interface goes, the address is released.
      network::CniRunner cni;
      cni.del(detail::attachment_of(a, id, path), a.value("result", json()));
    }
    st["attachments"] = kept;
    detail::save_state(s, id, st);
  });
}

void refresh_rootless_hosts(Store& store, const std::string& network, const std::string& id) {
  InfraLock lock(store);
  if (rootless_netns_pid(store) <= 0) return;  // no container on any user network runs
  in_rootless_netns(store, [&](Store& s) { detail::refresh_hosts(s, {network}, id); });
}

void check_rootless_shared_network(Store& store, const std::string& other_id,
                                   const std::string& userns) {
  auto other = store.container_by_id(other_id);
  if (!other || other->options.value("network", "") == "host") return;  // no netns to join
  std::string theirs = other->options.value("userns", "host");
  if ((userns == "keep-id") != (theirs == "keep-id"))
    fail(
        "rootless vessel: --network container:{} needs the same --userns as {} ({}): a user's "
        "container joins the network namespace from the user namespace that owns it, {}'s",
        other->name, other->name, theirs, other->name);
}

UniqueFd& pending_rootless_netns() {
  static UniqueFd fd;
  return fd;
}

UniqueFd& pending_rootless_userns() {
  static UniqueFd fd;
  return fd;
}

void rootless_netns_spec(Store& store, const std::string& config_path,
                         const std::string& netns_path, const std::string& userns_path) {
  pid_t ns = userns_path.empty() ? rootless_netns_pid(store) : 1;
  if (ns <= 0) fail("user networks: the user's network namespace is not running");
  json cfg = json::parse(read_file(config_path));
  json& lin = cfg["linux"];
  for (auto& n : lin["namespaces"]) {
    if (n["type"] == "user")
      n["path"] = userns_path.empty() ? fmt::format("/proc/{}/ns/user", ns) : userns_path;
    if (n["type"] == "network") n["path"] = netns_path;
  }
  lin.erase("uidMappings");
  lin.erase("gidMappings");
  // Its network namespace is its own (in the user namespace it joins): a sysfs of its own, not
  // the host's /sys bound (apply_rootless_to_spec's choice for a shared network).
  for (auto& m : cfg["mounts"])
    if (m.value("destination", "") == "/sys" && m.value("source", "") == "/sys")
      m = {{"destination", "/sys"},
           {"type", "sysfs"},
           {"source", "sysfs"},
           {"options", json::array({"nosuid", "noexec", "nodev", "ro"})}};
  write_file_atomic(config_path, cfg.dump(2), 0600);
}

}  // namespace vessel::manager
