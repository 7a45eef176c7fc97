#include <cstdio>

#include "cli/runtime/commands.h"
#include "linux/seccomp.h"
#include "oci/state.h"

namespace vessel::cli {

void add_features(CLI::App& app, Globals&, Action& action) {
  CLI::App* cmd = app.add_subcommand("features", "print what this runtime supports (JSON)");
  cmd->callback([&action] {
    action = [] {
      nlohmann::json f = oci::features_json();
      // The oci layer cannot know what the linux layer's libseccomp supports: ask it here.
      f["linux"]["seccomp"] = linux::seccomp_features();
      std::printf("%s\n", f.dump(2).c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
