// The message of the vessel::Error that `f` throws, or "" when it throws none.
#pragma once

#include <string>

#include "util/error.h"

namespace vessel {

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace vessel
