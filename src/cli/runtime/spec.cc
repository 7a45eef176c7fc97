#include "oci/spec.h"

#include <fcntl.h>

#include "cgroups/manager.h"
#include "cli/runtime/commands.h"
#include "linux/seccomp.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::cli {

void add_spec(CLI::App& app, Globals&, Action& action) {
  struct Opts {
    std::string bundle = ".";
    bool rootless = false;
    bool seccomp_default = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("spec", "create a new specification file (config.json)");
  cmd->add_option("-b,--bundle", o->bundle, "bundle directory (default: .)");
  cmd->add_flag("--rootless", o->rootless, "a configuration for an unprivileged user");
  cmd->add_flag("--seccomp-default", o->seccomp_default,
                "add vessel's default seccomp profile (deny by default, allow ordinary syscalls, "
                "keep out those that change the host's kernel state)");
  cmd->callback([&action, o] {
    action = [o] {
      std::string path = o->bundle + "/config.json";
      // runc's template, so a bundle made with either runtime's `spec` is the same.
      // With a cgroup namespace only on a pure cgroup v2 host, as runc decides it.
      nlohmann::json spec =
          oci::spec_template(o->rootless, cgroups::detect_layout() == cgroups::Layout::v2);
      // Vessel's own default seccomp profile (linux/seccomp.cc), on request: the oci layer
      // knows no architectures or syscall names, the linux layer does.
      if (o->seccomp_default) spec["linux"]["seccomp"] = linux::default_seccomp_profile();
      std::string text = spec.dump(2) + "\n";
      // O_EXCL: never overwrite a configuration someone has edited.
      try {
        write_file(path, text, O_WRONLY | O_CREAT | O_EXCL);
      } catch (const Error& e) {
        if (e.error_code() == EEXIST) fail("{} already exists; remove it first", path);
        throw;
      }
      return 0;
    };
  });
}

}  // namespace vessel::cli
