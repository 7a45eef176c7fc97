// One error type for the whole project: a message that already carries its context
// (what was attempted, on which path, and the errno text). It travels up to the CLI,
// which prints it once (text or JSON log).
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace vessel {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int err = 0) : std::runtime_error(msg), errno_(err) {}
  int error_code() const { return errno_; }

 private:
  int errno_;
};

// Builds "what: strerror(err)" and throws it.
[[noreturn]] void throw_errno(const std::string& what, int err = errno);

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail_errno(fmt::format_string<Args...> f, Args&&... args) {
  int saved = errno;
  throw_errno(fmt::format(f, std::forward<Args>(args)...), saved);
}

// Retries a syscall on EINTR.
template <typename F>
auto retry_eintr(F&& f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

}  // namespace vessel
