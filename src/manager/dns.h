// The lifecycle of each user network's DNS resolver (network/resolver.h): one process per
// network with containers, started by whoever attaches the first container (the monitor, or
// `network connect`), told of every change (SIGHUP after its table is rewritten), and stopped
// when the last container leaves or the network is removed. Its files live in
// <runroot>/dns/<network>/. Callers hold the network lock (network_state.h's refresh_hosts).
#pragma once

#include <string>
#include <vector>

#include "manager/store.h"

namespace vessel::manager::dns {

struct Entry {
  std::string address;             // IPv4 or IPv6
  std::vector<std::string> names;  // container name, hostname, aliases
};

// Whether the network gets a resolver: user networks do, the default network does not
// (docker's rule: names resolve on user-defined networks only).
bool wanted(const NetworkRecord& n);
// The table is `entries`: rewritten, and the resolver started or told. No entries: stopped.
void sync(Store& store, const NetworkRecord& n, const std::vector<Entry>& entries);
// Stops the network's resolver (if it runs) and removes its files.
void stop(Store& store, const std::string& network);
// Where the resolver's files are.
std::string dir(Store& store, const std::string& network);
// The resolver's process ID, 0 when none runs.
int running_pid(Store& store, const std::string& network);
// The nameserver lines of a resolv.conf, in order.
std::vector<std::string> nameservers(const std::string& resolv_conf);

}  // namespace vessel::manager::dns
