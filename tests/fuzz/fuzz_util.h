// Shared by the libFuzzer targets: scratch directories, and the rule that bad input may only
// end in vessel::Error (a clear message); any other exception is a finding, and so abort()s.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>

#include "util/error.h"
#include "util/file.h"

namespace fuzz {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class Scratch {
 public:
  Scratch() {
    const char* base = ::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vessel-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) ::abort();
    path_ = tmpl;
  }
  ~Scratch() {
    try {
      vessel::remove_tree(path_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fuzz: cannot remove %s: %s\n", path_.c_str(), e.what());
      ::abort();
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs f; a vessel::Error is the expected answer to bad input, anything else a finding.
template <typename F>
void expect_clean_errors(F&& f) {
  try {
    f();
  } catch (const vessel::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: unexpected exception: %s\n", e.what());
    ::abort();
  }
}

}  // namespace fuzz
