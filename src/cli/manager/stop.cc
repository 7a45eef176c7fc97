// vessel stop, kill, restart.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_stop(CLI::App& app, Globals& g, Action& action) {
  for (const char* name : {"stop", "restart"}) {
    bool restart = std::string(name) == "restart";
    auto* cmd =
        app.add_subcommand(name, restart ? "stop and start containers again"
                                         : "stop running containers (signal, then SIGKILL)");
    auto names = std::make_shared<std::vector<std::string>>();
    auto timeout = std::make_shared<int>(-1);
    cmd->add_option("CONTAINER", *names, "names or IDs")->required();
    cmd->add_option("-t,--time", *timeout,
                    "seconds to wait before SIGKILL (default: its stop timeout)");
    cmd->callback([&g, &action, names, timeout, restart] {
      action = [&g, names, timeout, restart]() -> int {
        int rc = 0;
        for (const auto& n : *names) {
          try {
            std::optional<int> t;
            if (*timeout >= 0) t = *timeout;
            stop_container(g.store(), n, t);
            if (restart) start_container(g.store(), n, false);
            std::puts(n.c_str());
          } catch (const Error& e) {
            std::fprintf(stderr, "vessel: %s\n", e.what());
            rc = 125;
          }
        }
        return rc;
      };
    });
  }

  auto* kill = app.add_subcommand("kill", "send a signal to running containers");
  auto names = std::make_shared<std::vector<std::string>>();
  auto signal = std::make_shared<std::string>("SIGKILL");
  kill->add_option("-s,--signal", *signal, "signal name or number (default SIGKILL)");
  kill->add_option("CONTAINER", *names, "names or IDs")->required();
  kill->callback([&g, &action, names, signal] {
    action = [&g, names, signal]() -> int {
      int rc = 0;
      for (const auto& n : *names) {
        try {
          kill_container(g.store(), n, *signal);
          std::puts(n.c_str());
        } catch (const Error& e) {
          std::fprintf(stderr, "vessel: %s\n", e.what());
          rc = 125;
        }
      }
      return rc;
    };
  });
}

}  // namespace vessel::cli
