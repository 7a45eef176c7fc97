#include "util/error.h"

#include <cstring>

namespace vessel {

void throw_errno(const std::string& what, int err) {
  throw Error(what + ": " + std::strerror(err), err);
}

}  // namespace vessel
