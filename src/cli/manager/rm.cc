// vessel rm, container prune.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_rm(CLI::App& app, Globals& g, Action& action) {
  auto* rm = app.add_subcommand("rm", "remove containers");
  auto names = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  auto volumes = std::make_shared<bool>(false);
  rm->add_option("CONTAINER", *names, "names or IDs")->required();
  rm->add_flag("-f,--force", *force, "stop running containers first (SIGKILL)");
  rm->add_flag("-v,--volumes", *volumes, "also remove anonymous volumes");
  rm->callback([&g, &action, names, force, volumes] {
    action = [&g, names, force, volumes]() -> int {
      int rc = 0;
      for (const auto& n : *names) {
        try {
          remove_container(g.store(), n, *force, *volumes);
          std::puts(n.c_str());
        } catch (const Error& e) {
          std::fprintf(stderr, "vessel: %s\n", e.what());
          rc = 125;
        }
      }
      return rc;
    };
  });

  auto* container = app.add_subcommand("container", "container commands");
  auto* prune = container->add_subcommand("prune", "remove all stopped containers");
  prune->add_flag("-f,--force")->description("do not ask (accepted for compatibility)");
  prune->callback([&g, &action] {
    action = [&g]() -> int {
      for (auto c : g.store().containers()) {
        c = refresh(g.store(), c);
        if (c.state == "exited" || c.state == "created") {
          remove_container(g.store(), c.id, false);
          std::puts(c.id.c_str());
        }
      }
      return 0;
    };
  });
  container->require_subcommand(1);
}

}  // namespace vessel::cli
