#include <cstdio>

#include "cli/runtime/commands.h"
#include "runtime/container.h"
#include "util/log.h"

namespace vessel::cli {

void add_exec(CLI::App& app, Globals& g, Action& action) {
  auto o = std::make_shared<runtime::ExecOptions>();
  CLI::App* cmd = app.add_subcommand(
      "exec", "run a new process in a running container: ID [--] COMMAND [ARGS...], or -p FILE");
  cmd->add_option("id", o->id, "container ID")->required();
  cmd->add_option("-p,--process", o->process_json,
                  "JSON file with the runtime-spec \"process\" object to run (instead of COMMAND)");
  cmd->add_flag("-t,--tty", o->tty, "allocate a pseudo-terminal");
  cmd->add_option("--console-socket", o->console_socket,
                  "AF_UNIX socket that receives the pty master (SCM_RIGHTS)");
  cmd->add_flag("-d,--detach", o->detach, "return once the process runs");
  cmd->add_option("--pid-file", o->pid_file, "write the process's host PID to this file");
  cmd->add_option("-e,--env", o->env, "NAME=VALUE added to the environment (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--cwd", o->cwd, "working directory in the container");
  cmd->add_option("-u,--user", o->user, "uid[:gid] to run as");
  cmd->add_option("-g,--additional-gids", o->additional_gids, "supplementary gid (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("-c,--cap", o->caps, "capability to add (repeatable)")->allow_extra_args(false);
  cmd->add_flag("--no-new-privs", o->no_new_privs, "set no_new_privs for the process");
  cmd->add_option("--apparmor", o->apparmor,
                  "AppArmor profile to exec into (an error where AppArmor is off)");
  cmd->add_option("--process-label", o->process_label,
                  "SELinux label to exec into (an error where SELinux is off)");
  cmd->add_option("--preserve-fds", o->preserve_fds,
                  "pass N extra file descriptors (3 .. 3+N-1) to the process");
  cmd->add_flag("--ignore-paused", o->ignore_paused, "exec even if the container is paused");
  cmd->add_option("--cgroup", o->sub_cgroups,
                  "existing sub-cgroup of the container's to run in: PATH, or "
                  "CONTROLLER[,CONTROLLER]:PATH (repeatable, one per hierarchy, on cgroup v1)")
      ->allow_extra_args(false);
  cmd->add_option("command", o->args, "the command and its arguments")->allow_extra_args();
  // Everything after the ID is the command, verbatim, as with runc: `exec ID ls -la /` must not
  // parse -la, and `exec ID ps` must not reach the `ps` command.
  cmd->positionals_at_end();
  cmd->callback([&g, &action, o] {
    if (!o->args.empty() && o->args.front() == "--") o->args.erase(o->args.begin());
    action = [&g, o] {
      // runc's contract: 255 when exec itself fails, so it never reads as the program's status.
      try {
        return runtime::Runtime(g.root).exec(*o);
      } catch (const std::exception& e) {
        log::error(e.what());
        if (!log::logs_to_stderr()) std::fprintf(stderr, "%s\n", e.what());
        return 255;
      }
    };
  });
}

}  // namespace vessel::cli
