#include "harness_criu.h"

namespace itest {

const std::string& criu_unusable() {
  static const std::string why = [] {
    Result which = run_cmd({"/bin/sh", "-c", "command -v criu || ls /usr/sbin/criu"});
    if (!which.ok()) return std::string("criu is not installed");
    Result r = run_cmd({"/bin/sh", "-c", "criu check 2>&1"}, 60s);
    if (r.ok()) return std::string();
    std::string last;
    for (const auto& line : split_lines(r.out))
      if (contains(line, "Error")) last = line;
    return "criu check fails here: " + (last.empty() ? trim(r.out) : last);
  }();
  return why;
}

}  // namespace itest
