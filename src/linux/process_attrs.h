// Per-process settings from config.json "process": user, rlimits, scheduling, I/O priority,
// personality, OOM score, no_new_privs. Each function throws Error with context on failure.
#pragma once

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
void set_no_new_privileges();

}  // namespace vessel::linux
