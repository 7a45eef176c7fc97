// User namespaces for root's containers (--userns=auto): each container gets its own block of
// host ids, recorded in the store so that no two containers hold the same ids while both
// exist; the block goes back to the pool when the container's record is deleted.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "manager/store.h"

namespace vessel::manager {

// A container's ids: container ids 0..size-1 are host ids start..start+size-1 (uids and gids
// alike).
struct IdRange {
  uint32_t start = 0;
  uint32_t size = 0;
};

// The pool --userns=auto draws from: [kAutoIdBase, kAutoIdEnd), in blocks of kAutoIdSize.
// Far above the ids /etc/subuid hands out by default (100000…) and below 2^32-1 (the
// kernel's invalid id).
constexpr uint32_t kAutoIdBase = 1u << 30;
constexpr uint32_t kAutoIdEnd = 0xF0000000u;
constexpr uint32_t kAutoIdSize = 65536;

// The mode of a container whose --userns is empty: "host" unless changed (a store-wide
// configuration may set it). Process-wide.
void set_default_userns(const std::string& mode);
const std::string& default_userns();
// Checks a --userns value ("", "host", "auto") and returns the mode it means.
std::string resolve_userns_mode(const std::string& value);

// Reserves a free block for container `id` (whose record must exist) in one IMMEDIATE
// transaction; throws when the pool is exhausted.
IdRange allocate_id_range(Store& store, const std::string& id);
// The container's block, if it has one.
std::optional<IdRange> container_id_range(Store& store, const std::string& id);
// Returns the container's block to the pool (also done by deleting its record).
void release_id_range(Store& store, const std::string& id);

// The container's root (a host id of its block) must reach <dir>/rootfs by path: adds search
// permission for others (o+x, no listing) to the store's root, its containers directory and
// `dir`.
void open_path_for_userns(Store& store, const std::string& dir);

// Turns a built spec into one with a user namespace mapping `r`: the mappings, named
// volumes (sources under `volumes_dir`) as idmapped mounts, and a bind of the host's /sys
// where the container cannot mount a sysfs (its network namespace is not its own).
void apply_userns_to_spec(nlohmann::json& spec, const IdRange& r, const std::string& volumes_dir);

}  // namespace vessel::manager
