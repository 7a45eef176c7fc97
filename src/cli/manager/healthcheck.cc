// vessel healthcheck run, and the hidden periodic runner (manager/health.h).
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/health.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_healthcheck(CLI::App& app, Globals& g, Action& action) {
  auto* hc = app.add_subcommand("healthcheck", "container healthchecks");
  hc->require_subcommand(1);
  auto* run = hc->add_subcommand(
      "run",
      "run a container's healthcheck once and record it: prints the status; exit 0 "
      "when healthy, 1 otherwise");
  auto name = std::make_shared<std::string>();
  run->add_option("CONTAINER", *name)->required();
  run->callback([&g, &action, name] {
    action = [&g, name]() -> int {
      std::string status = run_healthcheck(g.store(), *name);
      std::puts(status.c_str());
      return status == "healthy" ? 0 : 1;
    };
  });

  // Started by start_container for a container with a check; not for people (no help entry).
  auto* loop = app.add_subcommand("__healthcheck-loop", "");
  loop->group("");
  auto id = std::make_shared<std::string>();
  loop->add_option("ID", *id)->required();
  auto hold_fd = std::make_shared<int>(-1);
  loop->add_option("--hold-fd", *hold_fd);
  loop->callback([&g, &action, id, hold_fd] {
    action = [&g, id, hold_fd]() -> int { return health_loop(g.store(), *id, *hold_fd); };
  });
}

}  // namespace vessel::cli
