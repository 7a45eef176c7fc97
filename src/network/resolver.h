// A user network's DNS resolver (what docker's embedded DNS server and podman's aardvark-dns
// are): a small UDP server on the network's gateway addresses that answers the names of the
// containers on the network (A and AAAA) from a table file and forwards every other question
// to upstream resolvers, relaying their answers unchanged. One process per network, run by
// `vessel-monitor-ctl --resolver DIR`; the manager's dns.cc starts, updates and stops it.
//
// DIR (root's, mode 0755) holds:
//   listen    the addresses to serve on, one a line (the gateway's IPv4 and IPv6 addresses)
//   hosts     "ADDRESS NAME [NAME...]" lines: the table (re-read on SIGHUP)
//   upstream  forwarders, one address a line (re-read on SIGHUP); none: SERVFAIL
//   pid       its process ID, written by the manager (the ready message carries it)
// After binding, the process drops to nobody; it reads the files through a descriptor of DIR
// kept open, so the directories above DIR need not be readable by nobody.
#pragma once

#include <string>
#include <vector>

namespace vessel::network {

// Serves until SIGTERM or SIGINT. `ready_fd` (when >= 0) gets "ok PID\n" once the sockets
// are bound, or the error text, and is closed. Returns the exit status.
int run_resolver(const std::string& dir, int ready_fd);

// A DNS message answering `query` from `table` — or nothing (empty) when the name is not in
// it and the query must be forwarded. Exposed for the unit tests.
struct ResolverTable {
  // Lower-case names without the final dot -> addresses (4 or 16 bytes each).
  std::vector<std::pair<std::string, std::vector<std::string>>> entries;
  const std::vector<std::string>* find(const std::string& name) const;
};
ResolverTable parse_resolver_hosts(const std::string& text);
std::string answer_from_table(const std::string& query, const ResolverTable& table);
// A reply with only the header and question of `query` and the given RCODE (2: SERVFAIL).
std::string error_reply(const std::string& query, int rcode);

}  // namespace vessel::network
