// The events log (`vessel events`): <root>/events.log, one JSON object a line, appended by
// whichever process makes the event (the CLI, a monitor, a healthcheck loop). No daemon: each
// line is one write(2) of at most kEventLineMax bytes on an O_APPEND descriptor, so that
// concurrent writers never interleave; past kEventLogRotate bytes the file is renamed to
// events.log.1 (under flock, by the first writer to see it). docs/events.md has the format, so
// that a program in C can write the same lines.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vessel::manager {

struct ContainerRecord;
class Store;

constexpr size_t kEventLineMax = 4096;                  // PIPE_BUF
constexpr long long kEventLogRotate = 4 * 1024 * 1024;  // bytes

using EventAttrs = std::vector<std::pair<std::string, std::string>>;

std::string events_path(const std::string& root);

// The line for one event (with its newline): {"Type":..,"Action":..,"Actor":{"ID":..,
// "Attributes":{..}},"time":S,"timeNano":NS}. Attributes that would take it past
// kEventLineMax are left out.
std::string event_line(const std::string& type, const std::string& action, const std::string& id,
                       const EventAttrs& attrs, long long time_nano);

// Appends one event now. Never throws: a lost event is logged (debug), the command goes on.
void emit_event(const std::string& root, const std::string& type, const std::string& action,
                const std::string& id, const EventAttrs& attrs = {});

// A container event with the attributes docker gives them: name, image, then `extra`.
void emit_container_event(Store& store, const ContainerRecord& c, const std::string& action,
                          EventAttrs extra = {});

// Whether an event (one line of the log, parsed) passes `filters` (key -> values): values of
// one key OR, different keys AND, as docker's --filter. Keys: type, event, container, network,
// volume, image, label, and the API's scope (always local) and daemon (always true).
bool event_matches(const std::map<std::string, std::vector<std::string>>& filters,
                   const nlohmann::json& e);

// The exit code of the container's last "die" event, if the log (or its rotated part) has
// one: how a waiter learns the status of a container that was removed before it looked.
std::optional<int> last_exit_code(const std::string& root, const std::string& id);

}  // namespace vessel::manager
