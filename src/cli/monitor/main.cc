// vessel-monitor: one per started container (the role conmon plays for podman), started by
// `vessel run/start`. A program of its own so that it maps as little as possible: no image
// layer, no registry client, no command-line library.
//   vessel-monitor --root DIR --runroot DIR [--client-fd N] CONTAINER-ID
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "manager/containers.h"
#include "util/error.h"
#include "util/log.h"

int main(int argc, char** argv) {
  using namespace vessel;
  manager::StorePaths paths;
  std::string id;
  int client_fd = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vessel-monitor: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--root")
      paths.root = value();
    else if (a == "--runroot")
      paths.runroot = value();
    else if (a == "--client-fd")
      client_fd = std::atoi(value().c_str());
    else if (!a.empty() && a[0] != '-' && id.empty())
      id = a;
    else {
      std::fprintf(stderr, "vessel-monitor: unexpected argument %s\n", a.c_str());
      return 2;
    }
  }
  if (paths.root.empty() || paths.runroot.empty() || id.empty()) {
    std::fprintf(stderr,
                 "usage: vessel-monitor --root DIR --runroot DIR [--client-fd N] CONTAINER-ID\n"
                 "(started by vessel run/start; not meant to be run by hand)\n");
    return 2;
  }
  try {
    manager::Store store(paths);
    return manager::monitor_main(store, id, client_fd);
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
}
