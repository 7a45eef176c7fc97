#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_create_flags(CLI::App* cmd, runtime::CreateOptions& o);

void add_run(CLI::App& app, Globals& g, Action& action) {
  auto o = std::make_shared<runtime::RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "create and start a container; in the foreground, return its exit code");
  add_create_flags(cmd, o->create);
  cmd->add_flag("-d,--detach", o->detach, "return once the container has started");
  cmd->add_flag("--keep", o->keep, "keep the state and cgroup after the container exits");
  cmd->add_flag("--no-subreaper", o->no_subreaper, "do not reap re-parented processes");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      check_cgroup_driver(g);
      o->create.rootless = rootless_mode(g);
      return runtime::Runtime(g.root).run(*o);
    };
  });
}

}  // namespace vessel::cli
