// User networks of an ordinary user's containers (`vessel network create` and `run --network
// NET` without root). One network namespace per user holds the bridges, the isolation rules
// and the networks' DNS resolvers, as the host's does for root: the "infra" namespace, owned
// by a user namespace that maps the user to 0 and its subordinate ids above (the same mapping
// as its containers'). slirp4netns gives it the user's outbound traffic (tap0, 10.0.2.100,
// masqueraded) and the host's published ports (its API forwards each to the infra, where
// portmap's rules take them to the container). Containers on user networks join that user
// namespace, so the CNI plugins, run as root there, may wire a veth from the infra's bridge
// into each container's network namespace. The infra starts with the first such container
// and ends with the last one's network (docs/rootless.md).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "manager/options.h"
#include "manager/store.h"
#include "util/fd.h"

namespace vessel::manager {

// vessel-monitor-ctl --rootless-netns DIR --ready-fd N: the infra's keeper (runs as the user
// until SIGTERM; says "ok PID NSPID" or "error: ..." on the ready fd).
int run_rootless_netns(const std::string& dir, int ready_fd);

// The process whose user and network namespaces are the infra's, 0 when none runs.
pid_t rootless_netns_pid(Store& store);

// Runs `fn` in a child that joined the infra's user and network namespaces (root there),
// with a Store of its own; its error comes back as this call's. The infra must run.
void in_rootless_netns(Store& store, const std::function<void(Store&)>& fn);

// networks.cc's bridge mode for an ordinary user: the container's own network namespace is
// made in the infra and attached there; the returned fd keeps it until the runtime has the
// container join it (rootless_netns_spec below).
UniqueFd setup_rootless_network(Store& store, const std::string& id, const RunOptions& opts);
// CNI DEL in the infra, the published ports' forwards removed; the infra ends when no
// container has a network any more.
void teardown_rootless_network(Store& store, const std::string& id);
// What setup_container_network (networks.h) set up last in this process, for the launch.
UniqueFd& pending_rootless_netns();
// With --userns=keep-id: the container's own user namespace, below the infra's (with the
// keep-id mapping in the infra's ids), which owns its network namespace.
UniqueFd& pending_rootless_userns();
// A container on a user network (or sharing the network of one): its config.json joins the
// infra's user namespace (or `userns_path`, its own below it: keep-id), no mappings of its
// own, and the network namespace at `netns_path`.
void rootless_netns_spec(Store& store, const std::string& config_path,
                         const std::string& netns_path, const std::string& userns_path = "");

// --network container:X of a user's container: it joins X's user namespace too (only from the
// user namespace that owns a network namespace, or one above, may a process join it), so its
// --userns (keep-id or host, resolved) must be X's; a one-line error otherwise.
void check_rootless_shared_network(Store& store, const std::string& other_id,
                                   const std::string& userns);

// `vessel network connect`/`disconnect` of a user's running container (init `pid`): CNI ADD
// (DEL) in the infra into (from) the container's network namespace, recorded in its state.
void attach_rootless_network(Store& store, const std::string& id, pid_t pid, const NetworkRecord& n,
                             const std::string& ifname);
void detach_rootless_network(Store& store, const std::string& id, pid_t pid,
                             const std::string& network);
// refresh_hosts (network_state.h) for a user: in the infra, where the resolvers run; nothing
// when the infra does not run (no container of the user is on a network).
void refresh_rootless_hosts(Store& store, const std::string& network, const std::string& id);

}  // namespace vessel::manager
