#include "util/go_json.h"

namespace vessel {
namespace {

// <, > and & can only occur inside strings in JSON text, so a plain replace is exact.
std::string html_escaped(const std::string& dumped) {
  std::string out;
  out.reserve(dumped.size());
  for (char c : dumped) {
    if (c == '<')
      out += "\\u003c";
    else if (c == '>')
      out += "\\u003e";
    else if (c == '&')
      out += "\\u0026";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string go_json_text(const nlohmann::ordered_json& j, int indent) {
  return html_escaped(j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

std::string go_json_text(const nlohmann::json& j, int indent) {
  return html_escaped(j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string go_rfc3339nano(const std::string& t) {
  size_t dot = t.find('.');
  if (dot == std::string::npos) return t;
  size_t end = t.find_first_not_of("0123456789", dot + 1);
  if (end == std::string::npos) end = t.size();
  size_t last = end;
  while (last > dot + 1 && t[last - 1] == '0') --last;
  if (last == dot + 1) last = dot;  // all zeros: no fraction at all
  return t.substr(0, last) + t.substr(end);
}

}  // namespace vessel
