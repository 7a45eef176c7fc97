// vessel-runtime's command line: one file per command, each registering itself on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace vessel::cli {

struct Globals {
  std::string root = "/run/vessel-runtime";
  std::string log;
  std::string log_format = "text";
  bool debug = false;
  bool systemd_cgroup = false;
  std::string rootless = "auto";
};

// The command's body, run after parsing; returns the process exit code.
using Action = std::function<int()>;

void add_create(CLI::App& app, Globals& g, Action& action);
void add_start(CLI::App& app, Globals& g, Action& action);
void add_run(CLI::App& app, Globals& g, Action& action);
void add_state(CLI::App& app, Globals& g, Action& action);
void add_kill(CLI::App& app, Globals& g, Action& action);
void add_delete(CLI::App& app, Globals& g, Action& action);
void add_list(CLI::App& app, Globals& g, Action& action);
void add_spec(CLI::App& app, Globals& g, Action& action);
void add_features(CLI::App& app, Globals& g, Action& action);
void add_exec(CLI::App& app, Globals& g, Action& action);
void add_pause(CLI::App& app, Globals& g, Action& action);
void add_resume(CLI::App& app, Globals& g, Action& action);
void add_ps(CLI::App& app, Globals& g, Action& action);
void add_update(CLI::App& app, Globals& g, Action& action);
void add_events(CLI::App& app, Globals& g, Action& action);

// Refuses --systemd-cgroup for commands that would create cgroups, until the driver exists.
void require_cgroupfs_driver(const Globals& g);

}  // namespace vessel::cli
