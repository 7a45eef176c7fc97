#include <cstdio>

#include "cli/runtime/commands.h"
#include "runtime/container.h"
#include "util/go_json.h"

namespace vessel::cli {

void add_state(CLI::App& app, Globals& g, Action& action) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("state", "print the container's state as OCI state JSON");
  cmd->add_option("id", *id, "container ID")->required();
  cmd->callback([&g, &action, id] {
    action = [&g, id] {
      runtime::ListEntry e = runtime::Runtime(g.root).describe(*id);
      // runc's `state` leaves the owner empty (its `list` fills it in), and writes no newline
      // after the indented object.
      oci::ContainerState c{e.state, e.rootfs, e.created, ""};
      std::fputs(go_json_text(oci::container_state_json(c), 2).c_str(), stdout);
      return 0;
    };
  });
}

}  // namespace vessel::cli
