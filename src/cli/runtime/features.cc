#include <cstdio>

#include "cli/runtime/commands.h"
#include "oci/state.h"

namespace vessel::cli {

void add_features(CLI::App& app, Globals&, Action& action) {
  CLI::App* cmd = app.add_subcommand("features", "print what this runtime supports (JSON)");
  cmd->callback([&action] {
    action = [] {
      std::printf("%s\n", oci::features_json().dump(2).c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
