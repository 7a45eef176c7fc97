// log_messages() of harness.h: a runtime's stderr in logrus's forms, read back as messages.
#include "harness.h"

namespace itest {

namespace {

// The value of a logrus text field at `pos` (after "key="): a bare word or a Go-quoted string.
std::string logrus_value(const std::string& line, size_t pos) {
  if (pos >= line.size() || line[pos] != '"') {
    size_t end = line.find(' ', pos);
    return line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  }
  std::string out;
  for (size_t i = pos + 1; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      out += line[i];
      continue;
    }
    char n = line[++i];
    out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
  }
  return out;
}

}  // namespace

std::string log_messages(const std::string& stderr_text) {
  std::string out;
  for (const std::string& line : split_lines(stderr_text)) {
    size_t msg = line.find(" msg=");
    if (line.rfind("time=", 0) == 0 && msg != std::string::npos) {
      out += logrus_value(line, msg + 5) + "\n";
      continue;
    }
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("msg") && j["msg"].is_string())
      out += j["msg"].get<std::string>() + "\n";
    else
      out += line + "\n";
  }
  return out;
}

}  // namespace itest
