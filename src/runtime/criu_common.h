// What checkpoint and restore share: the CRIU checks made before anything changes, and the
// parts of CRIU's request that come from the spec and the common flags.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "linux/criu_rpc.h"
#include "oci/spec.h"
#include "runtime/checkpoint.h"
#include "util/fd.h"

namespace vessel::runtime {

// The criu program, once `criu check` passed; otherwise fails with "<command>: CRIU cannot
// work here: <reason>".
std::string require_criu(const CriuCommonOptions& o, const char* command);

// The request's options from the common flags; bad values fail naming the flag.
linux::criu::Opts criu_base_opts(const CriuCommonOptions& o, const char* command);

// The spec's bind mounts (type "bind" or a "bind"/"rbind" option): CRIU cannot dump what they
// show, so they are external mounts keyed by their destination.
std::vector<const oci::Mount*> bind_mounts(const oci::Spec& spec);

// Namespaces the container joined by path: network and pid are CRIU externals (keys below);
// any other fails, naming it.
inline constexpr const char* kExtNetNs = "extRootNetNS";
inline constexpr const char* kExtPidNs = "extRootPidNS";
void check_joined_namespaces(const oci::Spec& spec, const char* command);

UniqueFd open_directory(const std::string& path, const char* flag);

}  // namespace vessel::runtime
