// checkpoint and restore: runc's commands for CRIU, which vessel-runtime does not integrate.
// They exist so that `help`, `<command> -h` and engines probing for them see runc's command
// set, and so that a call fails with one clear line instead of "unknown command". runc's
// options are accepted and ignored: the command fails before any of them could matter.
#include "cli/runtime/commands.h"
#include "util/error.h"

namespace vessel::cli {
namespace {

void add_unsupported(CLI::App& app, Action& action, const char* name, const char* description) {
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->allow_extras();
  // Shown in the usage line; runc's options (--image-path DIR ...) may make any word land here.
  cmd->add_option("container-id")->description("the container");
  cmd->callback([&action, name] {
    action = [name]() -> int {
      fail("{} is not supported: vessel-runtime has no CRIU (checkpoint/restore) support", name);
    };
  });
}

}  // namespace

void add_checkpoint(CLI::App& app, Globals&, Action& action) {
  add_unsupported(app, action, "checkpoint", "checkpoint a running container (not supported)");
}

void add_restore(CLI::App& app, Globals&, Action& action) {
  add_unsupported(app, action, "restore",
                  "restore a container from a previous checkpoint (not supported)");
}

}  // namespace vessel::cli
