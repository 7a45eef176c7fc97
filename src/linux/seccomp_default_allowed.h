// The system calls that vessel's default seccomp profile (default_seccomp_profile) allows
// unconditionally, by name; seccomp_default_allowed.cc says which are left out and why.
#pragma once

#include <span>

namespace vessel::linux {

std::span<const char* const> default_allowed_syscalls();

}  // namespace vessel::linux
