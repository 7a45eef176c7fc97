#include "manager/networks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "manager/config.h"
#include "manager/containers.h"
#include "manager/dns.h"
#include "manager/events.h"
#include "manager/network_state.h"
#include "manager/rootless.h"
#include "manager/rootless_netns.h"
#include "network/cni.h"
#include "network/isolation.h"
#include "network/netns.h"
#include "network/ports.h"
#include "network/subnet6.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"

namespace vessel::manager {

using nlohmann::json;

namespace {

// ---- IPv4 subnets ----

struct Cidr {
  uint32_t addr = 0;  // host byte order
  int prefix = 0;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint32_t network() const { return addr & mask(); }
  uint32_t broadcast() const { return network() | ~mask(); }
  bool contains(uint32_t a) const { return (a & mask()) == network(); }
  bool overlaps(const Cidr& o) const {
    int p = std::min(prefix, o.prefix);
    uint32_t m = p == 0 ? 0 : ~uint32_t{0} << (32 - p);
    return (addr & m) == (o.addr & m);
  }
};

std::string ip_string(uint32_t a) {
  in_addr in{htonl(a)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &in, buf, sizeof buf);
  return buf;
}

std::optional<uint32_t> parse_ip(const std::string& s) {
  in_addr in{};
  if (::inet_pton(AF_INET, s.c_str(), &in) != 1) return std::nullopt;
  return ntohl(in.s_addr);
}

Cidr parse_cidr_or_fail(const std::string& flag, const std::string& s) {
  size_t slash = s.find('/');
  auto ip = parse_ip(s.substr(0, slash));
  std::string plen = slash == std::string::npos ? "" : s.substr(slash + 1);
  if (!ip || plen.empty() || plen.size() > 2 ||
      plen.find_first_not_of("0123456789") != std::string::npos)
    fail("invalid {} \"{}\": expected an IPv4 subnet such as 10.91.0.0/24", flag, s);
  Cidr c{*ip, std::stoi(plen)};
  if (c.prefix < 8 || c.prefix > 30)
    fail("invalid {} \"{}\": the prefix length must be between 8 and 30", flag, s);
  if (c.addr != c.network())
    fail("invalid {} \"{}\": host bits are set (the subnet is {}/{})", flag, s,
         ip_string(c.network()), c.prefix);
  return c;
}

// Routes of the host (this network namespace) that are not vessel bridges: a new network must
// not hide them.
std::vector<Cidr> host_routes() {
  std::vector<Cidr> out;
  std::ifstream in("/proc/net/route");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string iface, dest, gw, flags, refcnt, use, metric, mask;
    if (!(ss >> iface >> dest >> gw >> flags >> refcnt >> use >> metric >> mask)) continue;
    if (iface.rfind(network::kBridgePrefix, 0) == 0) continue;
    uint32_t d = ntohl(static_cast<uint32_t>(std::stoul(dest, nullptr, 16)));
    uint32_t m = ntohl(static_cast<uint32_t>(std::stoul(mask, nullptr, 16)));
    if (m == 0) continue;  // the default route overlaps everything
    out.push_back({d, __builtin_popcount(m)});
  }
  return out;
}

bool subnet_free(Store& store, const Cidr& c, std::string* why) {
  for (const auto& n : store.networks()) {
    Cidr o = parse_cidr_or_fail("subnet", n.subnet);
    if (o.overlaps(c)) {
      if (why) *why = "it overlaps network " + n.name + " (" + n.subnet + ")";
      return false;
    }
  }
  for (const auto& r : host_routes())
    if (r.overlaps(c)) {
      if (why)
        *why = fmt::format("it overlaps a route of the host ({}/{})", ip_string(r.addr), r.prefix);
      return false;
    }
  return true;
}

std::string next_bridge_name(Store& store, bool is_default) {
  std::set<std::string> used;
  for (const auto& n : store.networks()) used.insert(n.bridge);
  for (int i = is_default ? 0 : 1; i < 10000; ++i) {
    std::string b = std::string(network::kBridgePrefix) + std::to_string(i);
    if (!used.count(b)) return b;
  }
  fail("no free bridge name left");
}

// --subnet/--gateway values of one family: at most one.
std::string one_of_family(const std::vector<std::string>& values, bool v6, const char* flag) {
  std::string out;
  for (const auto& v : values) {
    if ((v.find(':') != std::string::npos) != v6) continue;
    if (!out.empty()) fail("invalid {} {}: one IPv4 and one IPv6 value at most", flag, v);
    out = v;
  }
  return out;
}

// The IPv6 half of a dual-stack network: its subnet (given or a free random ULA /64) and
// gateway.
void choose_ipv6(Store& store, const std::string& given, const std::string& gateway,
                 NetworkRecord& n) {
  network::Subnet6 s;
  auto clash = [&](const network::Subnet6& cand) -> std::string {
    for (const auto& o : store.networks())
      if (!o.subnet6.empty() && network::parse_subnet6("subnet", o.subnet6).overlaps(cand))
        return o.name + " (" + o.subnet6 + ")";
    return "";
  };
  if (!given.empty()) {
    s = network::parse_subnet6("--subnet", given);
    if (std::string other = clash(s); !other.empty())
      fail("invalid --subnet {}: it overlaps network {}", given, other);
  } else {
    do s = network::random_ula64();
    while (!clash(s).empty());
  }
  n.subnet6 = s.str();
  if (gateway.empty()) {
    n.gateway6 = network::ip6_string(network::first_host6(s));
    return;
  }
  std::array<uint8_t, 16> g;
  if (!network::parse_ip6(gateway, g) || !s.contains(g) || g == s.addr)
    fail("invalid --gateway {}: not a host address of subnet {}", gateway, n.subnet6);
  n.gateway6 = network::ip6_string(g);
}

NetworkRecord insert_new_network(Store& store, NetworkCreateOptions opts, bool is_default) {
  validate_name("network name", opts.name);
  for (const char* reserved : {"none", "host", "bridge", "container", "default"})
    if (opts.name == reserved) fail("invalid network name \"{}\": it is reserved", opts.name);
  std::string subnet = one_of_family(opts.subnets, false, "--subnet");
  std::string gateway = one_of_family(opts.gateways, false, "--gateway");
  std::string subnet6 = one_of_family(opts.subnets, true, "--subnet");
  std::string gateway6 = one_of_family(opts.gateways, true, "--gateway");
  if (!subnet6.empty()) opts.ipv6 = true;  // an IPv6 subnet means dual stack
  if (!gateway6.empty() && !opts.ipv6)
    fail("invalid --gateway {}: an IPv6 gateway needs --ipv6", gateway6);
  for (const auto& d : opts.dns) {
    std::array<uint8_t, 16> a6;
    if (!parse_ip(d) && !network::parse_ip6(d, a6))
      fail("invalid --dns \"{}\": not an IP address", d);
  }
  // Racing `network create`s meet the UNIQUE constraints on subnet and bridge: try again.
  for (int attempt = 0;; ++attempt) {
    NetworkRecord n;
    n.name = opts.name;
    n.id = random_hex_id();
    n.internal = opts.internal;
    n.labels = opts.labels;
    n.dns = opts.dns;
    n.created = now_rfc3339();
    Cidr c;
    if (!subnet.empty()) {
      c = parse_cidr_or_fail("--subnet", subnet);
      std::string why;
      if (!subnet_free(store, c, &why)) fail("invalid --subnet {}: {}", subnet, why);
    } else {
      bool found = false;
      std::vector<Cidr> candidates;
      if (is_default)
        for (uint32_t second : {90u, 92u, 93u, 94u, 95u})
          candidates.push_back({(10u << 24) | (second << 16), 16});
      for (uint32_t third = 0; third < 256; ++third)
        candidates.push_back({(10u << 24) | (91u << 16) | (third << 8), 24});
      for (const auto& cand : candidates)
        if (subnet_free(store, cand, nullptr)) {
          c = cand;
          found = true;
          break;
        }
      if (!found) fail("no free subnet left for network {}: give one with --subnet", opts.name);
    }
    n.subnet = fmt::format("{}/{}", ip_string(c.network()), c.prefix);
    if (gateway.empty()) {
      n.gateway = ip_string(c.network() + 1);
    } else {
      auto g = parse_ip(gateway);
      if (!g) fail("invalid --gateway \"{}\": not an IPv4 address", gateway);
      if (!c.contains(*g) || *g == c.network() || *g == c.broadcast())
        fail("invalid --gateway {}: not a host address of subnet {}", gateway, n.subnet);
      n.gateway = gateway;
    }
    if (opts.ipv6) choose_ipv6(store, subnet6, gateway6, n);
    n.bridge = next_bridge_name(store, is_default);
    try {
      store.insert_network(n);
      return n;
    } catch (const Error& e) {
      if (e.error_code() == EEXIST || attempt > 5 || store.network(n.name)) throw;
    }
  }
}

}  // namespace

namespace detail {

std::string ipam_dir(Store& store) { return store.paths().root + "/cni/ipam"; }
std::string state_path(Store& store, const std::string& id) {
  return container_dir(store, id) + "/network.json";
}

json read_state(Store& store, const std::string& id) {
  try {
    return json::parse(read_file(state_path(store, id)));
  } catch (const std::exception&) {
    return json();
  }
}

void save_state(Store& store, const std::string& id, const json& st) {
  write_file_atomic(state_path(store, id), st.dump(2), 0600);
}

network::Attachment attachment_of(const json& a, const std::string& id, const std::string& netns) {
  network::Attachment att;
  att.container_id = id;
  att.netns = netns;
  att.ifname = a.value("ifname", "eth0");
  att.conflist = a.value("conflist", json::object());
  att.runtime_config = a.value("runtime_config", json::object());
  return att;
}

}  // namespace detail

namespace {

using namespace detail;

// Serializes the writers of hosts files (every start and stop on a user network).
class HostsLock {
 public:
  explicit HostsLock(Store& store) {
    fd_.reset(
        ::open((store.paths().root + "/network.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (fd_) ::flock(fd_.get(), LOCK_EX);
  }

 private:
  UniqueFd fd_;
};

std::string hosts_header(const std::string& hostname, const std::string& name,
                         const std::string& own_ip) {
  std::string h = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  std::string names = hostname;
  if (!name.empty() && name != hostname) names += "\t" + name;
  h += (own_ip.empty() ? "127.0.1.1" : own_ip) + "\t" + names + "\n";
  return h;
}

std::string address_only(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

// What every bridge-mode container on user networks sees of its peers.
struct Member {
  std::string id, name, hostname;
  RunOptions opts;
  json state;
};

std::vector<Member> network_members(Store& store) {
  std::vector<Member> out;
  for (const auto& c : store.containers()) {
    json st = read_state(store, c.id);
    if (!st.is_object()) continue;
    Member m;
    m.id = c.id;
    m.name = c.name;
    m.opts = c.options.get<RunOptions>();
    m.hostname = m.opts.hostname.empty() ? short_id(c.id) : m.opts.hostname;
    m.state = st;
    out.push_back(std::move(m));
  }
  return out;
}

std::string host_gateway(const json& state) {
  for (const auto& a : state.value("attachments", json::array())) {
    auto addr = network::first_container_address(a.value("result", json()), a.value("ifname", ""));
    if (!addr.gateway.empty()) return addr.gateway;
  }
  return "127.0.0.1";
}

std::string hosts_for(const Member& m, const std::vector<Member>& all) {
  std::string own_ip;
  std::set<std::string> my_networks;
  for (const auto& a : m.state.value("attachments", json::array())) {
    auto addr = network::first_container_address(a.value("result", json()), a.value("ifname", ""));
    if (own_ip.empty()) own_ip = address_only(addr.address);
    std::string net = a.value("network", "");
    // Docker's rule: names resolve on user-defined networks, not on the default one.
    if (net != kDefaultNetwork) my_networks.insert(net);
  }
  std::string h = hosts_header(m.hostname, m.name, own_ip);
  std::set<std::string> seen;
  for (const auto& p : all) {
    if (p.id == m.id) continue;
    for (const auto& a : p.state.value("attachments", json::array())) {
      if (!my_networks.count(a.value("network", ""))) continue;
      auto addr =
          network::first_container_address(a.value("result", json()), a.value("ifname", ""));
      if (addr.address.empty()) continue;
      std::string line = address_only(addr.address) + "\t" + p.name;
      if (p.hostname != p.name && p.opts.hostname == p.hostname) line += "\t" + p.hostname;
      if (seen.insert(line).second) h += line + "\n";
    }
  }
  for (const auto& spec : m.opts.add_hosts) {
    auto [name, ip] = parse_add_host(spec);
    h += (ip == "host-gateway" ? host_gateway(m.state) : ip) + "\t" + name + "\n";
  }
  return h;
}

// The names a network's resolver answers: each member's name, short ID, hostname (when set)
// and aliases, with its addresses on that network.
std::vector<dns::Entry> dns_entries(const std::string& network, const std::vector<Member>& all) {
  std::vector<dns::Entry> out;
  for (const auto& m : all)
    for (const auto& a : m.state.value("attachments", json::array())) {
      if (a.value("network", "") != network) continue;
      auto addr =
          network::first_container_address(a.value("result", json()), a.value("ifname", ""));
      std::vector<std::string> names = {m.name, short_id(m.id)};
      if (!m.opts.hostname.empty() && m.opts.hostname != m.name) names.push_back(m.opts.hostname);
      for (const auto& al : m.opts.network_aliases) names.push_back(al);
      if (auto it = m.opts.connect_aliases.find(network); it != m.opts.connect_aliases.end())
        for (const auto& al : it->second) names.push_back(al);
      for (const auto* ip : {&addr.address, &addr.address6})
        if (!ip->empty()) out.push_back({address_only(*ip), names});
    }
  return out;
}

}  // namespace

namespace detail {

// Rewrites the hosts files of the containers on user networks in place: each is bind-mounted
// into its container, so it must keep its inode.
void refresh_hosts(Store& store, const std::set<std::string>& networks, const std::string& also_id,
                   const std::string& leaving) {
  HostsLock lock(store);
  auto all = network_members(store);
  std::erase_if(all, [&](const Member& m) { return !leaving.empty() && m.id == leaving; });
  for (const auto& m : all) {
    bool affected = m.id == also_id;
    for (const auto& a : m.state.value("attachments", json::array()))
      affected |= networks.count(a.value("network", "")) > 0;
    if (!affected) continue;
    std::string path = container_dir(store, m.id) + "/etc/hosts";
    try {
      write_file(path, hosts_for(m, all), O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC);
    } catch (const Error& e) {
      log::warn(e.what());
    }
  }
  // The networks' resolvers: each answers for the containers attached to it now.
  for (const auto& name : networks) {
    auto n = store.network(name);
    if (!n || !dns::wanted(*n)) continue;
    try {
      dns::sync(store, *n, dns_entries(name, all));
    } catch (const Error& e) {
      log::warn(e.what());
    }
  }
}

}  // namespace detail

namespace {}  // namespace

// ---- networks ----

NetworkRecord create_network(Store& store, NetworkCreateOptions opts) {
  auto n = insert_new_network(store, std::move(opts), false);
  emit_event(store.paths().root, "network", "create", n.id, {{"name", n.name}, {"type", n.driver}});
  return n;
}

NetworkRecord default_network(Store& store) {
  if (auto n = store.network(kDefaultNetwork)) return *n;
  NetworkCreateOptions o;
  o.name = kDefaultNetwork;
  // vessel.conf; empty: the first free one
  if (!config().str("network.default_subnet").empty())
    o.subnets.push_back(config().str("network.default_subnet"));
  try {
    return insert_new_network(store, o, true);
  } catch (const Error&) {
    if (auto n = store.network(kDefaultNetwork)) return *n;  // created concurrently
    throw;
  }
}

NetworkRecord find_network_or_fail(Store& store, const std::string& ref) {
  if (ref == "bridge" || ref == kDefaultNetwork) return default_network(store);
  auto n = store.network(ref);
  if (!n) fail("no such network: {}", ref);
  return *n;
}

json network_conflist(Store& store, const NetworkRecord& n, bool with_ports) {
  json ranges = json::array({json::array({{{"subnet", n.subnet}, {"gateway", n.gateway}}})});
  if (!n.subnet6.empty())
    ranges.push_back(json::array({{{"subnet", n.subnet6}, {"gateway", n.gateway6}}}));
  json ipam = {{"type", "host-local"}, {"ranges", ranges}, {"dataDir", ipam_dir(store)}};
  if (!n.internal) {
    ipam["routes"] = json::array({{{"dst", "0.0.0.0/0"}}});
    if (!n.subnet6.empty()) ipam["routes"].push_back({{"dst", "::/0"}});
  }
  json plugins = json::array();
  plugins.push_back({{"type", "bridge"},
                     {"bridge", n.bridge},
                     {"isGateway", true},
                     // An ordinary user's infra masquerades all that leaves on slirp4netns's tap0.
                     {"ipMasq", !n.internal && !running_rootless()},
                     {"hairpinMode", true},
                     {"ipam", ipam}});
  // portmap only where ports are published: one plugin run (and its iptables calls) less per
  // start and stop of every other container.
  if (!n.internal && with_ports)
    plugins.push_back({{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}});
  plugins.push_back({{"type", "firewall"}, {"backend", "iptables"}});
  return {{"cniVersion", "1.0.0"}, {"name", n.name}, {"plugins", plugins}};
}

void resolve_network_options(Store& store, RunOptions& opts) {
  if (!opts.network.empty()) return;  // already resolved (a record being recreated)
  std::vector<std::string> given = opts.networks;
  opts.networks.clear();
  if (given.empty()) given.push_back("bridge");
  for (const auto& g : given) {
    bool special = g == "none" || g == "host" || g.rfind("container:", 0) == 0;
    if (special && given.size() > 1)
      fail("invalid --network {}: it cannot be combined with other networks", g);
    if (special) {
      opts.network = g;
      if (g.rfind("container:", 0) == 0) {
        std::string ref = g.substr(10);
        auto other = store.find_container(ref);
        if (ref.empty() || !other) fail("invalid --network {}: no such container", g);
        opts.network = "container:" + other->id;
      }
    } else {
      auto n = find_network_or_fail(store, g);
      if (std::find(opts.networks.begin(), opts.networks.end(), n.name) != opts.networks.end())
        fail("invalid --network {}: given twice", g);
      opts.networks.push_back(n.name);
      opts.network = "bridge";
    }
  }
  if (!opts.network_aliases.empty() &&
      (opts.network != "bridge" || std::find(opts.networks.begin(), opts.networks.end(),
                                             kDefaultNetwork) != opts.networks.end()))
    fail("--network-alias: aliases are for containers on user-defined networks only");
  if (!opts.publish.empty() && opts.network != "bridge")
    fail("--publish needs a bridge network; the container's network is {}", opts.network);
  if (!opts.publish.empty() && find_network_or_fail(store, opts.networks.front()).internal)
    fail("--publish: network {} is internal (no traffic in or out)", opts.networks.front());
}

std::string resolver_of(Store& store, const RunOptions& opts) {
  if (opts.network != "bridge" || opts.networks.empty()) return "";
  auto n = store.network(opts.networks.front());
  return n && dns::wanted(*n) ? n->gateway : "";
}

// ---- a container's attachments ----

std::string netns_path(Store& store, const std::string& id) {
  return store.paths().runroot + "/netns/" + id;
}

bool has_network_state(Store& store, const std::string& id) {
  return path_exists(state_path(store, id));
}

void detail::add_attachment(Store& store, const std::string& id, json& st, const NetworkRecord& n,
                            const std::string& ifname, const json& runtime_config) {
  network::ensure_isolation(n.bridge, n.internal, !n.subnet6.empty());
  json a = {{"network", n.name},
            {"ifname", ifname},
            {"conflist", network_conflist(store, n, runtime_config.contains("portMappings"))},
            {"runtime_config", runtime_config},
            {"result", nullptr}};
  // Recorded before ADD: a crash in the middle still leaves enough for DEL.
  st["attachments"].push_back(a);
  save_state(store, id, st);
  network::CniRunner cni;
  json result = cni.add(attachment_of(a, id, st["netns"]));
  st["attachments"].back()["result"] = result;
  save_state(store, id, st);
}

void setup_container_network(Store& store, const std::string& id, const RunOptions& opts) {
  if (opts.network != "bridge") return;
  if (::geteuid() != 0) {  // an ordinary user: in the user's network namespace
    pending_rootless_netns() = setup_rootless_network(store, id, opts);
    return;
  }
  if (has_network_state(store, id)) teardown_container_network(store, id);  // a crash's leftovers
  mkdir_p(store.paths().runroot + "/netns", 0755);
  mkdir_p(ipam_dir(store), 0700);
  std::string ns = netns_path(store, id);
  json st = {{"netns", ns}, {"attachments", json::array()}, {"ports", json::array()}};
  save_state(store, id, st);
  std::set<std::string> nets;
  try {
    network::create_netns(ns);
    auto ports = opts.publish;
    network::assign_free_host_ports(ports);
    st["ports"] = ports;
    for (size_t i = 0; i < opts.networks.size(); ++i) {
      auto n = store.network(opts.networks[i]);
      if (!n) fail("network {} of this container no longer exists", opts.networks[i]);
      json rc = json::object();
      if (i == 0 && !ports.empty()) rc["portMappings"] = network::to_cni_port_mappings(ports);
      nets.insert(n->name);
      add_attachment(store, id, st, *n, "eth" + std::to_string(i), rc);
    }
  } catch (...) {
    teardown_container_network(store, id);
    throw;
  }
  refresh_hosts(store, nets, id);
}

void recheck_container_network(Store& store, const std::string& id, const RunOptions& opts) {
  if (opts.network != "bridge") return;
  if (::geteuid() != 0) {  // a user's container network ended with its namespace
    teardown_container_network(store, id);
    setup_container_network(store, id, opts);
    return;
  }
  json st = read_state(store, id);
  std::string why;
  if (!st.is_object() || !network::netns_exists(st.value("netns", ""))) {
    why = "its network namespace is gone";
  } else {
    network::CniRunner cni;
    for (const auto& a : st.value("attachments", json::array())) {
      try {
        cni.check(attachment_of(a, id, st["netns"]), a.value("result", json()));
      } catch (const Error& e) {
        why = e.what();
        break;
      }
    }
  }
  if (why.empty()) return;
  log::warn(fmt::format("container {}: network set up again: {}", short_id(id), why));
  teardown_container_network(store, id);
  setup_container_network(store, id, opts);
}

void teardown_container_network(Store& store, const std::string& id) {
  if (::geteuid() != 0) {
    if (has_network_state(store, id)) teardown_rootless_network(store, id);
    return;
  }
  json st = read_state(store, id);
  if (!st.is_object()) {
    ::unlink(state_path(store, id).c_str());
    return;
  }
  std::string ns = st.value("netns", "");
  network::CniRunner cni;
  std::set<std::string> nets;
  auto atts = st.value("attachments", json::array());
  for (size_t i = atts.size(); i-- > 0;) {
    nets.insert(atts[i].value("network", ""));
    try {
      cni.del(attachment_of(atts[i], id, ns), atts[i].value("result", json()));
    } catch (const Error& e) {
      log::warn(fmt::format("container {}: {}", short_id(id), e.what()));
    }
  }
  try {
    if (!ns.empty()) network::remove_netns(ns);
  } catch (const Error& e) {
    log::warn(e.what());
  }
  // The peers' hosts files first, the state file last: whoever finds no state file (a
  // concurrent `rm` while the monitor tears down) can rely on the peers being updated.
  if (!nets.empty()) refresh_hosts(store, nets, "", id);
  ::unlink(state_path(store, id).c_str());
}

json network_settings(Store& store, const ContainerRecord& c) {
  json out = {{"Networks", json::object()}, {"Ports", json::object()}, {"SandboxKey", ""}};
  json st = read_state(store, c.id);
  RunOptions opts = c.options.get<RunOptions>();
  out["NetworkMode"] = opts.network;
  for (const auto& name : opts.networks) out["Networks"][name] = json::object();
  auto ports = opts.publish;
  if (st.is_object()) {
    out["SandboxKey"] = st.value("netns", "");
    ports = st.value("ports", std::vector<network::PortMapping>{});
    for (const auto& a : st.value("attachments", json::array())) {
      auto addr =
          network::first_container_address(a.value("result", json()), a.value("ifname", ""));
      json e = {{"InterfaceName", a.value("ifname", "")},
                {"IPAddress", address_only(addr.address)},
                {"IPPrefixLen", 0},
                {"Gateway", addr.gateway},
                {"MacAddress", addr.mac}};
      if (size_t slash = addr.address.find('/'); slash != std::string::npos)
        e["IPPrefixLen"] = std::stoi(addr.address.substr(slash + 1));
      e["GlobalIPv6Address"] = address_only(addr.address6);
      e["GlobalIPv6PrefixLen"] = 0;
      e["IPv6Gateway"] = addr.gateway6;
      if (size_t slash = addr.address6.find('/'); slash != std::string::npos)
        e["GlobalIPv6PrefixLen"] = std::stoi(addr.address6.substr(slash + 1));
      std::string net = a.value("network", "");
      if (net != kDefaultNetwork) {
        std::vector<std::string> aliases = opts.network_aliases;
        if (auto it = opts.connect_aliases.find(net); it != opts.connect_aliases.end())
          aliases.insert(aliases.end(), it->second.begin(), it->second.end());
        e["Aliases"] = aliases;
      }
      out["Networks"][a.value("network", "")] = e;
    }
  }
  for (const auto& p : ports) {
    std::string key = std::to_string(p.container_port) + "/" + p.protocol;
    if (!out["Ports"].contains(key)) out["Ports"][key] = json::array();
    out["Ports"][key].push_back(
        {{"HostIp", p.host_ip.empty() ? "0.0.0.0" : p.host_ip},
         {"HostPort", p.host_port == 0 ? std::string() : std::to_string(p.host_port)}});
  }
  return out;
}

std::string ports_summary(Store& store, const ContainerRecord& c) {
  json st = read_state(store, c.id);
  auto ports = st.is_object() ? st.value("ports", std::vector<network::PortMapping>{})
                              : c.options.get<RunOptions>().publish;
  std::string out;
  for (const auto& p : ports) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{}:{}->{}/{}", p.host_ip.empty() ? "0.0.0.0" : p.host_ip,
                       p.host_port == 0 ? std::string("?") : std::to_string(p.host_port),
                       p.container_port, p.protocol);
  }
  return out;
}

// ---- /etc files ----

std::string initial_hosts(const std::string& hostname, const RunOptions& opts) {
  std::string h = hosts_header(hostname, opts.name, "");
  for (const auto& spec : opts.add_hosts) {
    auto [name, ip] = parse_add_host(spec);
    // host-gateway is known once the container has an address; the host itself otherwise.
    h += (ip == "host-gateway" ? "127.0.0.1" : ip) + "\t" + name + "\n";
  }
  return h;
}

std::string resolv_conf_for(const RunOptions& opts, const std::string& host_resolv_conf,
                            const std::string& resolver) {
  std::vector<std::string> servers, search, options;
  std::istringstream in(host_resolv_conf);
  std::string line;
  bool loopback_only = false;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    std::string v;
    if (key == "nameserver" && ls >> v) {
      // A resolver on the host's loopback (systemd-resolved, dnsmasq) is unreachable from a
      // container's own network namespace.
      if (opts.network != "host" && (v.rfind("127.", 0) == 0 || v == "::1")) {
        loopback_only = true;
        continue;
      }
      servers.push_back(v);
    } else if (key == "search" || key == "domain") {
      search.clear();
      while (ls >> v) search.push_back(v);
    } else if (key == "options") {
      while (ls >> v) options.push_back(v);
    }
  }
  if (servers.empty() && loopback_only) servers = {"8.8.8.8", "8.8.4.4"};
  if (!resolver.empty()) servers = {resolver};
  if (!opts.dns.empty()) servers = opts.dns;
  if (!opts.dns_search.empty()) search = opts.dns_search;
  if (!opts.dns_options.empty()) options = opts.dns_options;
  std::string out;
  if (!search.empty()) {
    out += "search";
    for (const auto& s : search) out += " " + s;
    out += "\n";
  }
  for (const auto& s : servers) out += "nameserver " + s + "\n";
  if (!options.empty()) {
    out += "options";
    for (const auto& o : options) out += " " + o;
    out += "\n";
  }
  return out;
}

}  // namespace vessel::manager
