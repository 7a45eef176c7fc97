// vessel-monitor-ctl: the C++ half of a container's monitor (the role conmon plays for podman),
// started by `vessel run/start`. It sets up the network, starts the container through the
// runtime library and records it in the store, then execs vessel-monitor (small C, resident
// while the container runs), which execs this program again with --exit-code once the container
// has exited. A program of its own so that it maps as little as possible: no image layer, no
// registry client, no command-line library.
//   vessel-monitor-ctl --root DIR --runroot DIR [--client-fd N]... [--restore
//   [--tcp-established]] CONTAINER-ID   (--restore: from the container's checkpoint)
//   (from vessel-monitor: ... --attach-fd N --started-ms MS --backoff-ms MS --exit-code N)
//   vessel-monitor-ctl --resolver DIR --ready-fd N: a user network's DNS resolver
//   (network/resolver.h), started by manager/dns.cc
//   vessel-monitor-ctl --rootless-netns DIR --ready-fd N: an ordinary user's network namespace
//   for user networks (manager/rootless_netns.h)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "manager/containers.h"
#include "manager/rootless_netns.h"
#include "network/resolver.h"
#include "util/error.h"
#include "util/log.h"

int main(int argc, char** argv) {
  using namespace vessel;
  manager::StorePaths paths;
  manager::MonitorCall call;
  std::string id;
  if (argc == 5 && std::strcmp(argv[1], "--resolver") == 0 &&
      std::strcmp(argv[3], "--ready-fd") == 0)
    return network::run_resolver(argv[2], std::atoi(argv[4]));
  if (argc == 5 && std::strcmp(argv[1], "--rootless-netns") == 0 &&
      std::strcmp(argv[3], "--ready-fd") == 0)
    return manager::run_rootless_netns(argv[2], std::atoi(argv[4]));
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vessel-monitor-ctl: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--root") {
      paths.root = value();
    } else if (a == "--runroot") {
      paths.runroot = value();
    } else if (a == "--client-fd") {
      call.client_fds.push_back(std::atoi(value().c_str()));
    } else if (a == "--attach-fd") {
      call.attach_fd = std::atoi(value().c_str());
    } else if (a == "--started-ms") {
      call.started_ms = std::atoll(value().c_str());
    } else if (a == "--backoff-ms") {
      call.backoff_ms = std::atoll(value().c_str());
    } else if (a == "--restore") {
      call.restore = true;
    } else if (a == "--tcp-established") {
      call.restore_tcp_established = true;
    } else if (a == "--exit-code") {
      call.resume = true;
      call.exit_code = std::atoi(value().c_str());
    } else if (!a.empty() && a[0] != '-' && id.empty()) {
      id = a;
    } else {
      std::fprintf(stderr, "vessel-monitor-ctl: unexpected argument %s\n", a.c_str());
      return 2;
    }
  }
  if (paths.root.empty() || paths.runroot.empty() || id.empty() ||
      (call.resume && call.attach_fd < 0)) {
    std::fprintf(stderr,
                 "usage: vessel-monitor-ctl --root DIR --runroot DIR [--client-fd N] CONTAINER-ID\n"
                 "(started by vessel run/start; not meant to be run by hand)\n");
    return 2;
  }
  try {
    manager::Store store(paths);
    return manager::monitor_main(store, id, call);
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
}
