// Tests that need a working CRIU skip, with its reason, where `criu check` fails (this host's
// 6.18 kernel: the vDSO); `make test-criu-vm` runs them in the pure cgroup v2 VM.
#pragma once

#include <string>

#include "harness.h"

namespace itest {

// "" when CRIU works here, else why not (the last Error line of `criu check`).
const std::string& criu_unusable();

}  // namespace itest

#define SKIP_WITHOUT_CRIU()                                                          \
  do {                                                                               \
    if (!::itest::criu_unusable().empty()) GTEST_SKIP() << ::itest::criu_unusable(); \
  } while (0)
