// vessel pause, unpause.
#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/containers.h"

namespace vessel::cli {

void add_pause(CLI::App& app, Globals& g, Action& action) {
  for (const char* name : {"pause", "unpause"}) {
    bool pause = std::string(name) == "pause";
    auto* cmd = app.add_subcommand(
        name, pause ? "freeze all processes of containers" : "thaw paused containers");
    auto names = std::make_shared<std::vector<std::string>>();
    cmd->add_option("CONTAINER", *names, "names or IDs")->required();
    cmd->callback([&g, &action, names, pause] {
      action = [&g, names, pause]() -> int {
        for (const auto& n : *names) {
          manager::pause_container(g.store(), n, pause);
          std::puts(n.c_str());
        }
        return 0;
      };
    });
  }
}

}  // namespace vessel::cli
