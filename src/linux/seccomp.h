// Seccomp filters from `linux.seccomp` (runtime-spec config-linux.md, "Seccomp"), built with
// libseccomp and loaded behind runc's ENOSYS stub (seccomp_enosys.h); the SCMP_ACT_NOTIFY listener
// hand-off ("The Container Process State"); the `features` seccomp section; and the default profile
// of `vessel-runtime spec`.
//
// Where each step runs (the container start path, docs/architecture.md):
//
//   parent, before anything exists:   validate_seccomp(spec.linux.seccomp)
//   container init, as late as possible but while it may still load the filter:
//     - process.noNewPrivileges false: load_seccomp() BEFORE prepare_capabilities() (and so
//       before switch_user()). The filter is loaded without no_new_privs, which the kernel
//       allows only with CAP_SYS_ADMIN in the current user namespace; the capability drop
//       and the user switch take that away. Everything the init does afterwards (capset,
//       prctl, setgroups, setresuid, chdir, ...) is then filtered too, as with runc.
//     - process.noNewPrivileges true: load_seccomp() AFTER set_no_new_privileges(), just
//       before `ready` is sent, so the user's profile sees as few runtime syscalls as possible.
//   If seccomp_uses_notify(): right after load_seccomp(), hand the returned listener fd to the
//   parent (SCM_RIGHTS on the sync channel) and close it in the init; the parent calls
//   send_seccomp_listener() with the "creating" state and the container's host PID before it
//   waits for `ready`. The fd must never reach the container: the process could answer its
//   own notifications.
#pragma once

// This file's name shadows the kernel's <linux/seccomp.h> for everything built with -I src,
// including <seccomp.h>, which includes it: pull the kernel header in from here (the include
// directories after src/), so <seccomp.h> finds its definitions whichever is included first.
#include_next <linux/seccomp.h>
#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/fd.h"

namespace vessel::linux {

struct SeccompArg {
  unsigned index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  int op = 0;  // libseccomp's enum scmp_compare
};

struct SeccompRule {
  std::vector<std::string> names;
  uint32_t action = 0;  // libseccomp action value, errno/trace data included
  std::vector<SeccompArg> args;
  std::string path;  // "linux.seccomp.syscalls[3]", for errors while loading
};

struct SeccompFilter {
  uint32_t default_action = 0;
  std::vector<uint32_t> architectures;  // libseccomp SCMP_ARCH_* tokens
  bool flag_log = false;
  bool flag_spec_allow = false;
  bool flag_wait_killable_recv = false;
  std::vector<SeccompRule> rules;
  std::string listener_path;
  std::string listener_metadata;
  bool uses_notify = false;
};

// Checks everything about `linux.seccomp` that can be checked without loading it, and
// returns the typed filter. Errors carry the JSON path:
//   config.json: linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"
// Syscall names libseccomp does not know, and rules whose action is the default action, are
// reported here at debug level (they are skipped when loading, as runc does).
SeccompFilter parse_seccomp(const nlohmann::json& seccomp);
// The same, for the parent; a null `seccomp` (no linux.seccomp) is valid.
void validate_seccomp(const nlohmann::json& seccomp);
// True when some rule uses SCMP_ACT_NOTIFY, i.e. load_seccomp() returns a listener fd.
bool seccomp_uses_notify(const nlohmann::json& seccomp);

// Builds the filter and loads it into the calling process (single-threaded: no TSYNC, no
// threads). Returns the notification listener fd (close-on-exec) when the filter uses
// SCMP_ACT_NOTIFY, an empty UniqueFd otherwise, and also for a null `seccomp`.
// See the top of this file for when to call it.
UniqueFd load_seccomp(const nlohmann::json& seccomp);
UniqueFd load_seccomp(const SeccompFilter& filter);

// A filter compiled into what seccomp(2) loads: the ENOSYS stub followed by libseccomp's
// program, and the SECCOMP_FILTER_FLAG_* bits. Compiling (libseccomp's rule database, its BPF
// generator) is most of what a filter costs: for vessel's default profile about a fifth of the
// CPU time of a whole `vessel run --rm`. So the runtime compiles in the parent, before the
// clone, and the child (a copy of the parent's memory) only loads.
struct SeccompProgram {
  std::vector<sock_filter> insns;
  unsigned long flags = 0;
  bool uses_notify = false;
};

// Compiles `seccomp` (not null). With a `cache_dir`, the program is looked up there first and
// stored there after compiling (linux/seccomp_cache.h); an unusable cache is skipped quietly.
SeccompProgram compile_seccomp(const nlohmann::json& seccomp, const std::string& cache_dir = {});
// Loads a compiled program into the calling process, as load_seccomp(json) does.
UniqueFd load_seccomp(const SeccompProgram& program);

// The runtime-spec "container process state" sent to the seccomp agent: ociVersion,
// fds ["seccompFd"], pid (as the runtime sees it), metadata (listenerMetadata, if set) and
// the container `state` object.
nlohmann::json seccomp_process_state(const nlohmann::json& seccomp, const nlohmann::json& state,
                                     pid_t pid);
// Connects to linux.seccomp.listenerPath, sends `notify_fd` with SCM_RIGHTS together with the
// JSON of seccomp_process_state(), and closes the connection (one state per connection).
// Call it in the parent (the path is on the host), before reporting the container created.
void send_seccomp_listener(const nlohmann::json& seccomp, int notify_fd,
                           const nlohmann::json& state, pid_t pid);

// The "seccomp" object of features-linux.md: actions, operators, archs this libseccomp knows,
// knownFlags, and supportedFlags (the subset this libseccomp and the running kernel support).
nlohmann::json seccomp_features();

// Vessel's default profile: deny (EPERM) by default, allow the ordinary syscalls, keep out
// the ones that reach the host kernel's global state (modules, kexec, keyrings, mount and
// namespace changes, clocks, swap, bpf/perf, ptrace, ...). Architectures are the host's
// native one and its compat ABIs.
nlohmann::json default_seccomp_profile();

}  // namespace vessel::linux
