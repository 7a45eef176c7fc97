#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_create_flags(CLI::App* cmd, runtime::CreateOptions& o) {
  cmd->add_option("id", o.id, "container ID")->required();
  cmd->add_option("-b,--bundle", o.bundle, "path to the bundle directory (default: .)");
  cmd->add_option("--pid-file", o.pid_file, "write the container process's PID to this file");
  cmd->add_option("--console-socket", o.console_socket,
                  "AF_UNIX socket that receives the pty master (SCM_RIGHTS)");
  cmd->add_flag("--no-pivot", o.no_pivot, "use MS_MOVE + chroot instead of pivot_root (unsafe)");
  cmd->add_flag("--no-new-keyring", o.no_new_keyring,
                "keep the caller's session keyring instead of a new one");
  cmd->add_option("--preserve-fds", o.preserve_fds,
                  "pass N extra file descriptors (3 .. 3+N-1) to the container");
}

void add_create(CLI::App& app, Globals& g, Action& action) {
  auto o = std::make_shared<runtime::CreateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "create", "create a container: set it up and stop before its program (see `start`)");
  add_create_flags(cmd, *o);
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      check_cgroup_driver(g);
      o->rootless = rootless_mode(g);
      runtime::Runtime(g.root).create(*o);
      return 0;
    };
  });
}

}  // namespace vessel::cli
