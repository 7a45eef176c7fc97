#include "manager/dns.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "manager/networks.h"
#include "manager/rootless.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"
#include "util/subprocess.h"

namespace vessel::manager::dns {

namespace {

// The resolver is a mode of vessel-monitor-ctl, which is installed next to vessel.
std::string resolver_binary() {
  std::string bin = own_program_dir() + "/vessel-monitor-ctl";
  if (::access(bin.c_str(), X_OK) != 0)
    fail("network DNS: {} not found (it runs the network's resolver)", bin);
  return bin;
}

std::string read_or_empty(const std::string& path) {
  try {
    return read_file(path);
  } catch (const Error&) {
    return "";
  }
}

// Whether PID is the resolver serving DIR (and not a recycled process ID).
bool is_resolver(int pid, const std::string& d) {
  if (pid <= 0) return false;
  std::string cmdline = read_or_empty("/proc/" + std::to_string(pid) + "/cmdline");
  if (cmdline.find(std::string("--resolver") + '\0' + d + '\0') == std::string::npos) return false;
  std::string stat = read_or_empty("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

int pid_in(const std::string& d) {
  try {
    return std::stoi(read_or_empty(d + "/pid"));
  } catch (const std::exception&) {
    return 0;
  }
}

// Starts the resolver for DIR as a daemon of its own (double fork: no process waits for it)
// and returns its PID once it serves, or throws with what it said.
int spawn(const std::string& d) {
  std::string bin = resolver_binary();
  std::string log_path = d + "/resolver.log";
  std::vector<std::string> args = {bin, "--resolver", d, "--ready-fd", "3"};
  std::string msg = spawn_daemon(args, log_path, 0644, "network DNS: the resolver");
  if (msg.rfind("ok ", 0) != 0)
    fail("network DNS: the resolver for {} did not start: {}", d,
         msg.empty() ? "it exited without a word" : msg);
  int pid = std::stoi(msg.substr(3));
  write_file_atomic(d + "/pid", std::to_string(pid) + "\n", 0644);
  return pid;
}

void terminate(int pid, const std::string& d) {
  if (!is_resolver(pid, d)) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 300 && is_resolver(pid, d); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (is_resolver(pid, d)) ::kill(pid, SIGKILL);
}

std::string lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

}  // namespace

std::string dir(Store& store, const std::string& network) {
  return store.paths().runroot + "/dns/" + network;
}

bool wanted(const NetworkRecord& n) { return n.name != kDefaultNetwork; }

std::vector<std::string> nameservers(const std::string& resolv_conf) {
  std::vector<std::string> out;
  std::istringstream in(resolv_conf);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key, v;
    if (ls >> key >> v && key == "nameserver") out.push_back(v);
  }
  return out;
}

int running_pid(Store& store, const std::string& network) {
  std::string d = dir(store, network);
  int pid = pid_in(d);
  return is_resolver(pid, d) ? pid : 0;
}

void stop(Store& store, const std::string& network) {
  std::string d = dir(store, network);
  if (!path_exists(d)) return;
  terminate(pid_in(d), d);
  remove_tree(d);
}

void sync(Store& store, const NetworkRecord& n, const std::vector<Entry>& entries) {
  if (!wanted(n) || entries.empty()) {
    stop(store, n.name);
    return;
  }
  std::string d = dir(store, n.name);
  mkdir_p(store.paths().runroot + "/dns", 0755);
  mkdir_p(d, 0755);
  std::string hosts;
  for (const auto& e : entries) {
    hosts += e.address;
    for (const auto& name : e.names) hosts += " " + name;
    hosts += "\n";
  }
  std::vector<std::string> listen = {n.gateway};
  if (!n.gateway6.empty()) listen.push_back(n.gateway6);
  // Forwarders: the network's own (--dns), else the host's. The resolver runs on the host's
  // side, so a resolver on the host's loopback (systemd-resolved, dnsmasq) is reachable.
  std::vector<std::string> upstream = n.dns;
  // An ordinary user's resolver runs in the user's network namespace: slirp4netns's DNS.
  if (upstream.empty() && running_rootless()) upstream.push_back("10.0.2.3");
  if (upstream.empty())
    for (const auto& s : nameservers(read_or_empty("/etc/resolv.conf")))
      if (std::find(listen.begin(), listen.end(), s) == listen.end()) upstream.push_back(s);
  write_file_atomic(d + "/hosts", hosts, 0644);
  int pid = pid_in(d);
  bool alive = is_resolver(pid, d);
  if (alive && read_or_empty(d + "/listen") == lines(listen)) {
    ::kill(pid, SIGHUP);
    return;
  }
  if (alive) terminate(pid, d);
  // The forwarders are the ones the host has when the resolver starts: every monitor and
  // `network connect` that updates the table later keeps them.
  write_file_atomic(d + "/upstream", lines(upstream), 0644);
  write_file_atomic(d + "/listen", lines(listen), 0644);
  spawn(d);
}

}  // namespace vessel::manager::dns
