// Compiled seccomp programs kept on disk between runtime invocations.
//
// Compiling a profile with libseccomp costs far more than loading it (about a fifth of the CPU
// time of a whole `vessel run --rm` with vessel's default profile), and nearly every container
// of a host gets one of a few profiles. The cache maps a key to the program: the key is the
// profile's JSON, the runtime binary's ELF build ID (which covers libseccomp, linked
// statically, and the ENOSYS stub's code), the kernel release and libseccomp's version. The
// key is stored whole in the file and compared byte for byte on every lookup; the file name is
// only a hash of it. No build ID, no cache.
//
// The directory is the caller's (the manager uses <runroot>/seccomp, which only root or the
// rootless user can write, as the runtime state beside it). A file is used only if it is a
// regular file owned by the caller and writable by nobody else, and its program has 1 to
// BPF_MAXINSNS instructions; otherwise it is ignored and the profile is compiled again.
// Writing is atomic (a temp file renamed into place) and best effort: any error leaves the
// cache alone and the caller uses the program it compiled.
#pragma once

#include <linux/filter.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vessel::linux {

// The key for `seccomp` (linux.seccomp), or "" when this binary has no build ID.
std::string seccomp_cache_key(const nlohmann::json& seccomp);
std::optional<std::vector<sock_filter>> seccomp_cache_get(const std::string& dir,
                                                          const std::string& key);
void seccomp_cache_put(const std::string& dir, const std::string& key,
                       const std::vector<sock_filter>& program);

}  // namespace vessel::linux
