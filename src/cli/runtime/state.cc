#include <cstdio>

#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_state(CLI::App& app, Globals& g, Action& action) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("state", "print the container's state as OCI state JSON");
  cmd->add_option("id", *id, "container ID")->required();
  cmd->callback([&g, &action, id] {
    action = [&g, id] {
      oci::State s = runtime::Runtime(g.root).state(*id);
      std::printf("%s\n", oci::state_to_json(s).dump(2).c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
