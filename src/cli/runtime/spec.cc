#include <fcntl.h>

#include "cli/runtime/commands.h"
#include "linux/seccomp.h"
#include "oci/spec.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::cli {

void add_spec(CLI::App& app, Globals&, Action& action) {
  struct Opts {
    std::string bundle = ".";
    bool rootless = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("spec", "write a starter config.json into the bundle");
  cmd->add_option("-b,--bundle", o->bundle, "bundle directory (default: .)");
  cmd->add_flag("--rootless", o->rootless, "a configuration for an unprivileged user");
  cmd->callback([&action, o] {
    action = [o] {
      std::string path = o->bundle + "/config.json";
      nlohmann::json spec = oci::default_spec(o->rootless);
      // Vessel's own default seccomp profile (linux/seccomp.cc), rootless or not: the oci layer
      // knows no architectures or syscall names, the linux layer does.
      spec["linux"]["seccomp"] = linux::default_seccomp_profile();
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
