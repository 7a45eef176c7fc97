// Healthchecks (--health-*, the image's HEALTHCHECK): the check run once in the container
// through `vessel exec`, its result recorded in <container>/health.json (State.Health), and the
// periodic runner: a small process of its own per container (`vessel __healthcheck-loop ID`),
// started by start_container, that exits with the container. It is separate from the monitor
// so that the monitor stays small (and can be rewritten on its own); docs/healthcheck.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "util/fd.h"

namespace vessel::manager {

struct ContainerRecord;
class Store;

// "30s", "1m30s", "500ms", "2h" (Go's time.ParseDuration units ns us ms s m h) in nanoseconds;
// throws a one-line error naming `flag`.
int64_t parse_duration_ns(const std::string& flag, const std::string& value);

// The image's Healthcheck (docker's shape: Test, Interval, Timeout, StartPeriod, Retries, all
// durations in ns) with the flags' fields over it, defaults filled in (30 s, 30 s, 0, 3,
// OnFailure "none"); null when there is no test or it is ["NONE"] (--no-healthcheck).
nlohmann::json effective_healthcheck(const nlohmann::json& image_hc, const nlohmann::json& flags);

// State.Health ({"Status", "FailingStreak", "Log"}); null when the container has no check.
nlohmann::json health_state(Store& store, const ContainerRecord& c);
// The " (healthy)" / " (unhealthy)" / " (health: starting)" that ps adds to "Up …"; "" if none.
std::string health_suffix(Store& store, const ContainerRecord& c);

// Runs the check once and records it; when the status becomes unhealthy, applies OnFailure
// (kill, stop, restart). Returns the status after it.
std::string run_healthcheck(Store& store, const std::string& ref);

// A fresh "starting" state and the periodic runner, for a container that was just started.
// With `hold`: returns the read end of a pipe whose other end the runner keeps open until it
// ends (an attached `run` waits for that end-of-file, so that no runner of the container
// outlives the command, or opens the store after it); else an empty fd.
UniqueFd start_health_loop(Store& store, const ContainerRecord& c, bool hold = false);
// The runner: waits Interval, checks, until the container is gone or stopped for good (its
// monitor ended). `hold_fd` (or -1): start_health_loop's pipe end, kept open until it returns.
int health_loop(Store& store, const std::string& id, int hold_fd = -1);

}  // namespace vessel::manager
