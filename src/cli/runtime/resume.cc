#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_resume(CLI::App& app, Globals& g, Action& action) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("resume", "resume every process of a paused container (thaws its cgroup)");
  cmd->add_option("id", *id, "container ID")->required();
  cmd->callback([&g, &action, id] {
    action = [&g, id] {
      runtime::Runtime(g.root).resume(*id);
      return 0;
    };
  });
}

}  // namespace vessel::cli
