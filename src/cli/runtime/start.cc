#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_start(CLI::App& app, Globals& g, Action& action) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("start", "run the program of a created container");
  cmd->add_option("id", *id, "container ID")->required();
  cmd->callback([&g, &action, id] {
    action = [&g, id] {
      runtime::Runtime(g.root).start(*id);
      return 0;
    };
  });
}

}  // namespace vessel::cli
