#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_delete(CLI::App& app, Globals& g, Action& action) {
  struct Opts {
    std::string id;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "delete", "delete a container's resources (state, cgroup); --force kills it first");
  cmd->add_option("id", o->id, "container ID")->required();
  cmd->add_flag("-f,--force", o->force, "kill a running container with SIGKILL, then delete it");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      runtime::Runtime(g.root).remove(o->id, o->force);
      return 0;
    };
  });
}

}  // namespace vessel::cli
