// Network namespaces that outlive their processes: kept by a bind mount of the nsfs file at a
// path, as `ip netns add` does, so the CNI plugins can configure one before the container
// starts and tear it down after the container is gone.
#pragma once

#include <string>

namespace vessel::network {

// Creates a new network namespace with its loopback up, kept at `path` (the file is created).
// Nothing is left at `path` when it fails.
void create_netns(const std::string& path);
// Sets lo up in the caller's network namespace: 0, or the errno (async-signal-safe).
int bring_loopback_up();
// Unmounts and removes it; a path that does not exist is fine.
void remove_netns(const std::string& path);
// True when `path` is a mounted network namespace.
bool netns_exists(const std::string& path);

// Deletes a bridge interface by name in the caller's network namespace (down first); a
// missing one is fine.
void delete_bridge(const std::string& name);

}  // namespace vessel::network
