// vessel-runtime's command line: one file per command, each registering itself on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace vessel::cli {

struct Globals {
  std::string root = "/run/vessel-runtime";  // root's; see default_root_for_caller()
  std::string log;
  std::string log_format = "text";
  bool debug = false;
  bool systemd_cgroup = false;
  std::string rootless = "auto";
  std::string criu;  // --criu: the criu program (default: criu in PATH)
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
// runc's checkpoint and restore through CRIU (cli/runtime/checkpoint.cc).
void add_checkpoint(CLI::App& app, Globals& g, Action& action);
void add_restore(CLI::App& app, Globals& g, Action& action);
// Hidden: __generate-man DIR (the man pages, written by the build).
void add_docs(CLI::App& app, Globals& g, Action& action);

// For commands that create cgroups (create, run): with --systemd-cgroup, checks that systemd
// can be reached, failing with one clear line before anything exists. (The driver itself is
// selected in main() for every command.)
void check_cgroup_driver(const Globals& g);

// Whether containers are created rootless (--rootless auto|true|false; auto: not run as root):
// a cgroup the caller may not create is skipped with a warning instead of failing.
bool rootless_mode(const Globals& g);
// --root when none is given: root's /run/vessel-runtime, or $XDG_RUNTIME_DIR/vessel-runtime
// for another user (an error naming --root without XDG_RUNTIME_DIR).
std::string default_root_for_caller();

}  // namespace vessel::cli
