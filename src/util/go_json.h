// JSON text as Go's encoding/json writes it, for output that must match runc's byte for byte.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vessel {

// nlohmann's layout (indent < 0: one line; else that many spaces per level, as Go's
// MarshalIndent), with <, > and & escaped as \u003c, \u003e, \u0026 like Go's HTML-safe
// encoder, and invalid UTF-8 replaced rather than thrown on.
std::string go_json_text(const nlohmann::ordered_json& j, int indent = -1);
std::string go_json_text(const nlohmann::json& j, int indent = -1);

// An RFC 3339 time with a 9-digit fraction ("...:05.120000000Z") as Go's time.Time encodes
// it: trailing zeros of the fraction dropped, and the dot with them when nothing is left.
std::string go_rfc3339nano(const std::string& t);

}  // namespace vessel
