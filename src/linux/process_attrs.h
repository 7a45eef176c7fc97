// Per-process settings from config.json "process": user, rlimits, scheduling, I/O priority,
// personality, OOM score, no_new_privs. Each function throws Error with context on failure.
#pragma once

#include <sys/types.h>

#include "oci/spec.h"

namespace vessel::linux {

void apply_rlimits(const std::vector<oci::Rlimit>& rlimits);
void apply_oom_score_adj(int adj);  // writes /proc/self/oom_score_adj
void apply_personality(const oci::Personality& p);
void apply_io_priority(const oci::IoPriority& prio);
void apply_scheduler(const oci::Scheduler& s);
// setgroups(additionalGids) (skipped when setgroups is denied in a user namespace),
// setresgid(gid), setresuid(uid), and umask when set.
void switch_user(const oci::User& user, bool setgroups_allowed);
// Makes `uid` the owner of stdin, stdout and stderr (their group is kept), so that a non-root
// process can reopen them as /dev/stdout, /dev/stderr or its terminal, as it may with runc:
// pipes, files and pty slaves alike; an fd already the user's, or the container's /dev/null,
// is left alone. Call as root, just before switch_user. EINVAL, EPERM and EROFS (an owner or
// group not mapped in the user namespace, a read-only /dev) leave that fd as it is.
void give_stdio_to(uid_t uid);
void set_no_new_privileges();
// chdir(cwd), then proves the new working directory is inside the process's root: a cwd such
// as "/proc/self/fd/N" naming a directory fd the runtime inherited or holds would otherwise
// leave the container on a host directory (CVE-2024-21626). `what` names the setting in
// errors ("process.cwd").
void enter_cwd(const std::string& cwd, const std::string& what);
// The same, except that a chdir refused for permission (EACCES, EPERM) returns false instead of
// failing: the caller tries again as process.user, who may be let in where root is not
// (root_squash, a user namespace), as runc does.
bool enter_cwd_unless_denied(const std::string& cwd, const std::string& what);

// The same settings applied to another process by pid, for the parent runtime to use. In a
// new user namespace the init cannot raise hard rlimits, lower oom_score_adj, or take
// real-time/negative-nice scheduling or the RT I/O class (those checks are against the
// initial user namespace), so runc applies such values from the parent; these allow the same.
void apply_rlimits(pid_t pid, const std::vector<oci::Rlimit>& rlimits);  // prlimit(2)
void apply_oom_score_adj(pid_t pid, int adj);  // writes /proc/<pid>/oom_score_adj
void apply_io_priority(pid_t pid, const oci::IoPriority& prio);
void apply_scheduler(pid_t pid, const oci::Scheduler& s);

}  // namespace vessel::linux
