// vessel exec: a new process in a running container, through the runtime library.
#include <fcntl.h>
#include <unistd.h>

#include "cli/manager/commands.h"
#include "manager/containers.h"
#include "manager/oci_runtime.h"
#include "manager/spec_builder.h"
#include "runtime/container.h"
#include "util/error.h"

namespace vessel::cli {

using namespace vessel::manager;

void add_exec(CLI::App& app, Globals& g, Action& action) {
  auto* cmd =
      app.add_subcommand("exec", "run a command in a running container: CONTAINER COMMAND...");
  auto o = std::make_shared<runtime::ExecOptions>();
  auto interactive = std::make_shared<bool>(false);
  auto user = std::make_shared<std::string>();
  cmd->add_flag("-i,--interactive", *interactive, "keep stdin open");
  cmd->add_flag("-t,--tty", o->tty, "allocate a terminal");
  cmd->add_flag("-d,--detach", o->detach, "run in the background");
  auto keys = std::make_shared<std::string>();
  cmd->add_option("--detach-keys", *keys,
                  "with -it: the keys that leave the process running (default ctrl-p,ctrl-q)");
  cmd->add_option("-e,--env", o->env, "set an environment variable")->allow_extra_args(false);
  cmd->add_option("-u,--user", *user, "user[:group] (name or number)");
  cmd->add_option("-w,--workdir", o->cwd, "working directory");
  cmd->add_flag("--privileged")->description("accepted; exec gets the container's privileges");
  cmd->prefix_command();
  cmd->callback([&g, &action, cmd, o, interactive, user, keys] {
    action = [&g, cmd, o, interactive, user, keys]() -> int {
      std::string detach_keys = detach_keys_for(cmd->count("--detach-keys") > 0, *keys);
      if (o->tty && *interactive) o->detach_keys = detach_keys;
      auto rest = cmd->remaining();
      if (rest.size() < 2) fail("exec: expected CONTAINER COMMAND...");
      auto& store = g.store();
      auto c = find_or_fail(store, rest[0]);
      if (c.state == "paused") fail("container {} is paused: unpause it first", c.name);
      if (c.state != "running") fail("container {} is not running", c.name);
      if (o->detach && o->tty) fail("exec: --detach with --tty is not supported");
      o->id = c.id;
      o->args.assign(rest.begin() + 1, rest.end());
      if (!user->empty()) {
        UniqueFd rootfd(::open((container_dir(store, c.id) + "/rootfs").c_str(),
                               O_PATH | O_DIRECTORY | O_CLOEXEC));
        auto u = resolve_user(rootfd.get(), *user);
        o->user = std::to_string(u.uid) + ":" + std::to_string(u.gid);
        o->additional_gids = u.additional_gids;
      }
      // Without -i the process gets no input, as with podman and docker.
      if (!*interactive && !o->tty) {
        int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) {
          ::dup2(null, 0);
          ::close(null);
        }
      }
      return runtime_for(store, c)->exec(*o, container_dir(store, c.id));
    };
  });
}

}  // namespace vessel::cli
