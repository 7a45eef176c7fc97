#include <cstdio>

#include "cli/runtime/commands.h"
#include "runtime/container.h"
#include "util/go_json.h"

namespace vessel::cli {

void add_list(CLI::App& app, Globals& g, Action& action) {
  struct Opts {
    std::string format = "table";
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("list", "list the containers under --root");
  cmd->add_option("-f,--format", o->format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->add_flag("-q,--quiet", o->quiet, "print only the IDs");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      auto entries = runtime::Runtime(g.root).list();
      if (o->quiet) {
        for (const auto& e : entries) std::printf("%s\n", e.state.id.c_str());
        return 0;
      }
      if (o->format == "json") {
        // As Go encodes runc's slice: null when there is nothing in it.
        nlohmann::ordered_json arr;
        for (const auto& e : entries)
          arr.push_back(oci::container_state_json({e.state, e.rootfs, e.created, e.owner}));
        std::printf("%s\n", go_json_text(arr).c_str());
        return 0;
      }
      std::printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
                  "OWNER");
      for (const auto& e : entries)
        std::printf("%-20s %-8d %-10s %-40s %-32s %s\n", e.state.id.c_str(), e.state.pid,
                    e.state.status.c_str(), e.state.bundle.c_str(),
                    go_rfc3339nano(e.created).c_str(), e.owner.c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
