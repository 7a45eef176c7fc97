// `vessel system service`: the Docker Engine API (version 1.41) on a unix socket.
#pragma once

#include <string>

#include "manager/store.h"

namespace vessel::api {

struct ServiceOptions {
  std::string socket = "unix:///run/vessel/vessel.sock";
  int timeout = 5;  // seconds idle (no connection) before exiting; 0 = run forever
};

// Listens until idle for `timeout` seconds (or forever), one thread per connection, each
// with its own Store on `paths`. Returns the exit status.
int serve(const manager::StorePaths& paths, const ServiceOptions& opts);

}  // namespace vessel::api
