// vessel as an ordinary user: where the store lives, the subordinate ids the user's containers
// are mapped to (/etc/subuid, /etc/subgid through newuidmap/newgidmap), and what of a
// container's spec a user may not have (bridge networks, cgroup limits without delegation).
#pragma once

#include <sys/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "oci/spec.h"

namespace vessel::manager {

// Whether this process runs as an ordinary user (not uid 0), or is a child of one working in
// its user networks' namespaces (manager/rootless_netns.h), root there but not on the host.
bool running_rootless();
void mark_in_rootless_netns();

// $XDG_DATA_HOME/vessel, else ~/.local/share/vessel (HOME, else the passwd entry).
std::string rootless_store_root();
// $XDG_RUNTIME_DIR/vessel, else /tmp/vessel-run-<uid> (created 0700, refused if another user
// owns it).
std::string rootless_runroot();

// The user's container mapping: container 0 is the user, 1..N the first subordinate range of
// the user (by name or uid) in `subuid_file`/`subgid_file`. Throws a one-line error naming
// the missing piece: no entry for the user, or newuidmap/newgidmap not installed.
struct RootlessMappings {
  std::vector<oci::IdMapping> uids, gids;
};
// `keep_id` (--userns=keep-id): the user's uid and gid map to the same ids inside, container
// ids below and above them come from the subordinate range (which must hold more than the
// user's id).
RootlessMappings rootless_mappings(const std::string& subuid_file = "/etc/subuid",
                                   const std::string& subgid_file = "/etc/subgid",
                                   bool keep_id = false);
// The mapping for keep-id from the user's `own` id and subordinate {start, count}: empty when
// the range is too small to cover the ids below `own`.
std::vector<oci::IdMapping> keep_id_mapping(uint32_t own, uint32_t start, uint32_t count);

// The first range of `user` (name) or `uid` in a subuid/subgid file: {start, count}, or
// {0, 0} when there is none.
std::pair<uint32_t, uint32_t> subordinate_range(const std::string& file_text,
                                                const std::string& user, uid_t uid);

// The user's delegated cgroup v2 subtree ("/user.slice/.../user@1000.service", a path below
// `cgroup_root`): the topmost ancestor of this process's cgroup that the user owns with
// cgroup.procs writable (systemd's Delegate=yes, or a directory chowned to the user); "" on
// cgroup v1/hybrid or without one. The container's cgroup is made directly below it, so this
// process must not live in it directly (v2's no-internal-processes rule): a leaf below.
std::string delegated_cgroup(const std::string& cgroup_root = "/sys/fs/cgroup",
                             const std::string& proc_cgroup = "/proc/self/cgroup");

// A built spec made runnable by this user: a user namespace with `m`, the host's /sys bound
// where no sysfs can be mounted (host network), cgroup limits dropped with a one-line warning
// on stderr when the user has no delegated cgroup (delegated_cgroup) to put them in; with one,
// the container's cgroup is made below it and the limits apply.
void apply_rootless_to_spec(nlohmann::json& spec, const RootlessMappings& m);

// Writes the user namespace mappings `m` of `pid` (which created its user namespace) through
// newuidmap and newgidmap; false when either refused.
bool map_with_helpers(pid_t pid, const RootlessMappings& m);

// Runs `fn` in a child process in a new user namespace with the user's mapping (root there is
// the user, ids 1..N the subordinate ones), as `podman unshare`; true when it returned true.
bool in_user_namespace(const std::function<bool()>& fn);

// The same for work whose errors and result matter: `fn` runs in the user namespace and its
// return value comes back; an Error it throws is thrown here with its message, prefixed with
// `what` (and ": ", unless empty). With `join`, the child joins the user namespace of that
// process (a running container's) instead of making one; else the new one gets `mappings`
// (a --userns=keep-id container's, say) or, without them, the user's. As root `fn` simply
// runs here.
std::string in_user_namespace_or_throw(const std::string& what,
                                       const std::function<std::string()>& fn, pid_t join = 0,
                                       const RootlessMappings* mappings = nullptr);
// Whether this process keeps its store's files under the ids of a user namespace
// (rootless vessel: layers, vfs copies and commits are read and written inside one).
bool store_in_user_namespace();

// Removes a directory tree of a user's container: as root does for root; as an ordinary user,
// what the container's other ids (subordinate ids on the host) left there is removed from a
// user namespace with the user's mapping (newuidmap/newgidmap), as `podman unshare rm` would.
void remove_container_tree(const std::string& path);

}  // namespace vessel::manager
