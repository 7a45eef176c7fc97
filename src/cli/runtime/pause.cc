#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_pause(CLI::App& app, Globals& g, Action& action) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("pause", "suspend every process in the container (freezes its cgroup)");
  cmd->add_option("id", *id, "container ID")->required();
  cmd->callback([&g, &action, id] {
    action = [&g, id] {
      runtime::Runtime(g.root).pause(*id);
      return 0;
    };
  });
}

}  // namespace vessel::cli
