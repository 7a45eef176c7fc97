// Rootless mode: runc's --rootless (auto|true|false) and the state root of an unprivileged user.
#include <unistd.h>

#include <cstdlib>

#include "cli/runtime/commands.h"
#include "util/error.h"

namespace vessel::cli {

bool rootless_mode(const Globals& g) {
  if (g.rootless == "true") return true;
  if (g.rootless == "false") return false;
  return ::geteuid() != 0;
}

std::string default_root_for_caller() {
  if (::geteuid() == 0) return Globals{}.root;
  // As runc: the user's runtime directory, which only they can write.
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return std::string(xdg) + "/vessel-runtime";
  fail(
      "running as uid {} without XDG_RUNTIME_DIR: give a state directory the user owns with "
      "--root",
      ::geteuid());
}

}  // namespace vessel::cli
