#include "network/resolver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>

#include "util/error.h"
#include "util/fd.h"

namespace vessel::network {

namespace {

constexpr uint16_t kTypeA = 1, kTypeAAAA = 28;
constexpr uint32_t kTtl = 5;  // short: names follow connect/disconnect
constexpr size_t kMaxPending = 4096;
constexpr auto kForwardTimeout = std::chrono::seconds(5);

uint16_t get16(const std::string& m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) |
                               static_cast<uint8_t>(m[at + 1]));
}
void put16(std::string& m, uint16_t v) {
  m.push_back(static_cast<char>(v >> 8));
  m.push_back(static_cast<char>(v & 0xff));
}
void set16(std::string& m, size_t at, uint16_t v) {
  m[at] = static_cast<char>(v >> 8);
  m[at + 1] = static_cast<char>(v & 0xff);
}

// The question of a query: its name (lower case, no final dot), type, and where it ends.
struct Question {
  std::string name;
  uint16_t type = 0;
  size_t end = 0;
};

bool parse_question(const std::string& m, Question& q) {
  if (m.size() < 12 || (m[2] & 0x80) || get16(m, 4) != 1) return false;  // a query, one question
  size_t at = 12;
  while (true) {
    if (at >= m.size()) return false;
    auto len = static_cast<uint8_t>(m[at]);
    if (len == 0) break;
    if (len > 63 || at + 1 + len > m.size()) return false;  // no compression in a question
    if (!q.name.empty()) q.name += '.';
    for (size_t i = 0; i < len; ++i)
      q.name += static_cast<char>(std::tolower(static_cast<unsigned char>(m[at + 1 + i])));
    at += 1 + len;
  }
  at += 1;
  if (at + 4 > m.size()) return false;
  q.type = get16(m, at);
  q.end = at + 4;
  return true;
}

// Header and question of `query`, flagged as a response with `rcode` and `answers` answers.
std::string reply_head(const std::string& query, const Question& q, int rcode, uint16_t answers) {
  std::string r = query.substr(0, q.end);
  // QR, the query's opcode and RD; AA (these names are ours); RA.
  r[2] = static_cast<char>(0x80 | (query[2] & 0x79) | 0x04);
  r[3] = static_cast<char>(0x80 | (rcode & 0x0f));
  set16(r, 6, answers);
  set16(r, 8, 0);
  set16(r, 10, 0);
  return r;
}

std::string read_at(int dirfd, const char* name) {
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC));
  if (!fd) return "";
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

union SockAddr {
  sockaddr sa;
  sockaddr_in in4;
  sockaddr_in6 in6;
  sockaddr_storage any;
};

bool parse_sockaddr(const std::string& ip, uint16_t port, SockAddr& out, socklen_t& len) {
  std::memset(&out, 0, sizeof out);
  if (::inet_pton(AF_INET, ip.c_str(), &out.in4.sin_addr) == 1) {
    out.in4.sin_family = AF_INET;
    out.in4.sin_port = htons(port);
    len = sizeof out.in4;
    return true;
  }
  if (::inet_pton(AF_INET6, ip.c_str(), &out.in6.sin6_addr) == 1) {
    out.in6.sin6_family = AF_INET6;
    out.in6.sin6_port = htons(port);
    len = sizeof out.in6;
    return true;
  }
  return false;
}

bool same_addr(const SockAddr& a, const SockAddr& b) {
  if (a.sa.sa_family != b.sa.sa_family) return false;
  if (a.sa.sa_family == AF_INET)
    return a.in4.sin_addr.s_addr == b.in4.sin_addr.s_addr && a.in4.sin_port == b.in4.sin_port;
  return std::memcmp(&a.in6.sin6_addr, &b.in6.sin6_addr, 16) == 0 &&
         a.in6.sin6_port == b.in6.sin6_port;
}

UniqueFd udp_socket(int family) {
  UniqueFd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) fail("socket: {}", std::strerror(errno));
  return fd;
}

struct Pending {
  SockAddr client;
  socklen_t client_len;
  int listener;  // the socket the query came in on
  uint16_t client_id;
  std::chrono::steady_clock::time_point sent;
};

class Resolver {
 public:
  Resolver(const std::string& dir, int ready_fd) : dir_(dir), ready_fd_(ready_fd) {}

  int run() {
    try {
      setup();
    } catch (const std::exception& e) {
      report(std::string(e.what()) + "\n");
      return 1;
    }
    report("ok " + std::to_string(::getpid()) + "\n");
    loop();
    return 0;
  }

 private:
  void report(const std::string& msg) {
    if (ready_fd_ < 0) return;
    (void)!::write(ready_fd_, msg.data(), msg.size());
    ::close(ready_fd_);
    ready_fd_ = -1;
  }

  void setup() {
    dirfd_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd_) fail("resolver: open {}: {}", dir_, std::strerror(errno));
    auto addrs = lines_of(read_at(dirfd_.get(), "listen"));
    if (addrs.empty()) fail("resolver: {}/listen names no address", dir_);
    for (const auto& a : addrs) {
      SockAddr sa;
      socklen_t len;
      if (!parse_sockaddr(a, 53, sa, len)) fail("resolver: invalid listen address \"{}\"", a);
      UniqueFd fd = udp_socket(sa.sa.sa_family);
      int one = 1;
      // A fresh IPv6 gateway address may still be tentative (duplicate address detection).
      if (sa.sa.sa_family == AF_INET6) {
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
      } else {
        ::setsockopt(fd.get(), IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
      }
      if (::bind(fd.get(), &sa.sa, len) != 0)
        fail("resolver: bind {} port 53: {}", a, std::strerror(errno));
      listeners_.push_back(std::move(fd));
    }
    up4_ = udp_socket(AF_INET);
    up6_ = udp_socket(AF_INET6);
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    sigfd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd_) fail("resolver: signalfd: {}", std::strerror(errno));
    // Nothing more needs root: the sockets are bound, DIR is open.
    if (::getuid() == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
          ::setresuid(65534, 65534, 65534) != 0)
        fail("resolver: dropping privileges: {}", std::strerror(errno));
    }
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    reload();
  }

  void reload() {
    table_ = parse_resolver_hosts(read_at(dirfd_.get(), "hosts"));
    upstream_.clear();
    for (const auto& a : lines_of(read_at(dirfd_.get(), "upstream"))) {
      SockAddr sa;
      socklen_t len;
      if (parse_sockaddr(a, 53, sa, len)) upstream_.push_back({sa, len});
    }
  }

  void loop() {
    std::vector<pollfd> fds;
    for (const auto& l : listeners_) fds.push_back({l.get(), POLLIN, 0});
    fds.push_back({up4_.get(), POLLIN, 0});
    fds.push_back({up6_.get(), POLLIN, 0});
    fds.push_back({sigfd_.get(), POLLIN, 0});
    while (true) {
      for (auto& p : fds) p.revents = 0;
      if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
      if (fds.back().revents & POLLIN) {
        signalfd_siginfo si;
        while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
          if (si.ssi_signo == SIGHUP)
            reload();
          else
            return;
        }
      }
      for (size_t i = 0; i < listeners_.size(); ++i)
        if (fds[i].revents & POLLIN) on_query(listeners_[i].get());
      for (size_t i = listeners_.size(); i < listeners_.size() + 2; ++i)
        if (fds[i].revents & POLLIN) on_upstream_reply(fds[i].fd);
      expire();
    }
  }

  void on_query(int fd) {
    char buf[4096];
    for (int budget = 0; budget < 64; ++budget) {
      SockAddr from;
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, &from.sa, &flen);
      if (n < 0) return;
      std::string q(buf, static_cast<size_t>(n));
      std::string reply = answer_from_table(q, table_);
      if (reply.empty()) {
        Question qq;
        if (!parse_question(q, qq)) continue;  // not a query we can forward: dropped
        if (upstream_.empty() || pending_.size() >= kMaxPending) {
          reply = error_reply(q, 2);
        } else {
          forward(q, fd, from, flen);
          continue;
        }
      }
      ::sendto(fd, reply.data(), reply.size(), 0, &from.sa, flen);
    }
  }

  void forward(std::string q, int listener, const SockAddr& from, socklen_t flen) {
    uint16_t id;
    do {
      id = static_cast<uint16_t>(++next_id_ * 40503u);
    } while (pending_.count(id));
    pending_[id] = {from, flen, listener, get16(q, 0), std::chrono::steady_clock::now()};
    set16(q, 0, id);
    // To every upstream at once: the first answer wins (a dead forwarder costs nothing).
    for (const auto& [sa, len] : upstream_) {
      int fd = sa.sa.sa_family == AF_INET ? up4_.get() : up6_.get();
      ::sendto(fd, q.data(), q.size(), 0, &sa.sa, len);
    }
  }

  void on_upstream_reply(int fd) {
    char buf[65536];
    for (int budget = 0; budget < 64; ++budget) {
      SockAddr from;
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, &from.sa, &flen);
      if (n < 0) return;
      if (n < 12) continue;
      bool known = false;
      for (const auto& u : upstream_) known |= same_addr(u.first, from);
      if (!known) continue;
      std::string r(buf, static_cast<size_t>(n));
      auto it = pending_.find(get16(r, 0));
      if (it == pending_.end()) continue;
      set16(r, 0, it->second.client_id);
      ::sendto(it->second.listener, r.data(), r.size(), 0, &it->second.client.sa,
               it->second.client_len);
      pending_.erase(it);
    }
  }

  void expire() {
    auto now = std::chrono::steady_clock::now();
    std::erase_if(pending_, [&](const auto& p) { return now - p.second.sent > kForwardTimeout; });
  }

  std::string dir_;
  int ready_fd_;
  UniqueFd dirfd_, up4_, up6_, sigfd_;
  std::vector<UniqueFd> listeners_;
  ResolverTable table_;
  std::vector<std::pair<SockAddr, socklen_t>> upstream_;
  std::map<uint16_t, Pending> pending_;
  uint32_t next_id_ = static_cast<uint32_t>(::getpid());
};

}  // namespace

const std::vector<std::string>* ResolverTable::find(const std::string& name) const {
  for (const auto& [n, addrs] : entries)
    if (n == name) return &addrs;
  return nullptr;
}

ResolverTable parse_resolver_hosts(const std::string& text) {
  ResolverTable t;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string ip, name;
    if (!(ls >> ip) || ip[0] == '#') continue;
    char raw[16];
    std::string addr;
    if (::inet_pton(AF_INET, ip.c_str(), raw) == 1)
      addr.assign(raw, 4);
    else if (::inet_pton(AF_INET6, ip.c_str(), raw) == 1)
      addr.assign(raw, 16);
    else
      continue;
    while (ls >> name) {
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      while (!name.empty() && name.back() == '.') name.pop_back();
      auto* found = const_cast<std::vector<std::string>*>(t.find(name));
      if (!found) {
        t.entries.push_back({name, {}});
        found = &t.entries.back().second;
      }
      if (std::find(found->begin(), found->end(), addr) == found->end()) found->push_back(addr);
    }
  }
  return t;
}

std::string answer_from_table(const std::string& query, const ResolverTable& table) {
  Question q;
  if (!parse_question(query, q)) return "";
  if ((query[2] & 0x78) != 0) return error_reply(query, 4);  // an opcode other than QUERY
  const auto* addrs = table.find(q.name);
  if (!addrs) return "";
  // A name of ours: its addresses of the asked family; any other type gets no data.
  size_t want = q.type == kTypeA ? 4 : q.type == kTypeAAAA ? 16 : 0;
  std::vector<const std::string*> hits;
  for (const auto& a : *addrs)
    if (a.size() == want) hits.push_back(&a);
  std::string r = reply_head(query, q, 0, static_cast<uint16_t>(hits.size()));
  for (const auto* a : hits) {
    put16(r, 0xc00c);  // the name: a pointer to the question's
    put16(r, q.type);
    put16(r, 1);  // IN
    put16(r, kTtl >> 16);
    put16(r, kTtl & 0xffff);
    put16(r, static_cast<uint16_t>(a->size()));
    r += *a;
  }
  return r;
}

std::string error_reply(const std::string& query, int rcode) {
  Question q;
  if (!parse_question(query, q)) return "";
  return reply_head(query, q, rcode, 0);
}

int run_resolver(const std::string& dir, int ready_fd) { return Resolver(dir, ready_fd).run(); }

}  // namespace vessel::network
