#include "cli/runtime/commands.h"
#include "runtime/container.h"

namespace vessel::cli {

void add_kill(CLI::App& app, Globals& g, Action& action) {
  struct Opts {
    std::string id;
    std::string signal = "SIGTERM";
    bool all = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "kill", "send a signal (default SIGTERM; a name with or without SIG, or a number)");
  cmd->add_option("id", o->id, "container ID")->required();
  cmd->add_option("signal", o->signal, "signal to send");
  cmd->add_flag("-a,--all", o->all, "send the signal to every process in the container's cgroup");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      // Signal 0, as with runc and kill(1): only checks that the process can be signalled.
      bool zero = !o->signal.empty() && o->signal.find_first_not_of('0') == std::string::npos;
      runtime::Runtime(g.root).kill(o->id, zero ? 0 : runtime::parse_signal(o->signal), o->all);
      return 0;
    };
  });
}

}  // namespace vessel::cli
