// vessel-runtime: an OCI runtime with runc's command-line contract.
#include <seccomp.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cgroups/manager.h"
#include "cgroups/systemd.h"
#include "cli/runtime/commands.h"
#include "linux/self_exec.h"
#include "oci/spec.h"
#include "util/error.h"
#include "util/log.h"

namespace vessel::cli {

void check_cgroup_driver(const Globals& g) {
  // Fails with one clear line before a state directory, cgroup or process exists.
  if (g.systemd_cgroup) cgroups::check_systemd_reachable();
}

}  // namespace vessel::cli

namespace {

// runc's lines: version, commit, spec, (go,) libseccomp.
std::string version_text() {
  const struct scmp_version* v = seccomp_version();
  return fmt::format("vessel-runtime version {}\ncommit: {}\nspec: {}\nlibseccomp: {}.{}.{}",
                     VESSEL_VERSION, VESSEL_GIT_COMMIT, vessel::oci::kSpecVersion, v->major,
                     v->minor, v->micro);
}

// The word that stands where a command should, when it names none: CLI11 leaves it over as an
// extra, and would print the general help for "WORD -h" and exit 0. runc fails for both.
std::optional<std::string> unknown_command(const CLI::App& app) {
  if (!app.get_subcommands().empty()) return std::nullopt;
  std::vector<std::string> rest = app.remaining();
  for (const std::string& word : rest)
    if (!word.empty() && word[0] != '-') return word;
  return std::nullopt;
}

int fail_unknown_command(const std::string& word) {
  std::fprintf(stderr,
               "vessel-runtime: unknown command \"%s\" (vessel-runtime --help lists them)\n",
               word.c_str());
  return 3;  // runc's exit status for an unknown command
}

}  // namespace

int main(int argc, char** argv) {
  vessel::linux::ensure_running_from_sealed_copy_or_exit(argc, argv);
  using namespace vessel;
  cgroups::enable_systemd_driver();
  CLI::App app{"vessel-runtime: run OCI containers (a drop-in for runc)"};
  app.set_version_flag("-v,--version", version_text());
  app.require_subcommand(1);
  // Engines pass runc's flags in Go's style ("-root x", "--log-format=json"); accept both.
  app.allow_windows_style_options(false);
  cli::Globals g;
  CLI::Option* root_option =
      app.add_option("--root", g.root,
                     "directory for container state (tmpfs recommended; default "
                     "/run/vessel-runtime, or $XDG_RUNTIME_DIR/vessel-runtime when not root)");
  app.add_option("--log", g.log, "log file (default: stderr)");
  app.add_option("--log-format", g.log_format, "log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", g.debug, "log debug messages");
  app.add_flag(
      "--systemd-cgroup", g.systemd_cgroup,
      "create cgroups as systemd transient units (linux.cgroupsPath \"slice:prefix:name\", "
      "default system.slice:vessel:<id>) through systemd's D-Bus API");
  app.add_option("--rootless", g.rootless,
                 "auto|true|false: a rootless container skips a cgroup it may not create, with a "
                 "warning (auto: when not run as root)")
      ->check(CLI::IsMember({"auto", "true", "false"}));
  app.add_option("--criu", g.criu, "path to the criu binary for checkpoint and restore")
      ->group("");

  cli::Action action;
  cli::add_create(app, g, action);
  cli::add_start(app, g, action);
  cli::add_run(app, g, action);
  cli::add_state(app, g, action);
  cli::add_kill(app, g, action);
  cli::add_delete(app, g, action);
  cli::add_list(app, g, action);
  cli::add_spec(app, g, action);
  cli::add_features(app, g, action);
  cli::add_exec(app, g, action);
  cli::add_pause(app, g, action);
  cli::add_resume(app, g, action);
  cli::add_ps(app, g, action);
  cli::add_update(app, g, action);
  cli::add_events(app, g, action);
  cli::add_checkpoint(app, g, action);
  cli::add_restore(app, g, action);
  cli::add_docs(app, g, action);

  // containerd's shim (go-runc) restores with "-no-subreaper", one dash, which runc's Go flag
  // parsing takes as --no-subreaper; so does restore here.
  std::vector<std::string> fixed_args;
  bool restoring = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "restore") restoring = true;
    if (restoring && a == "-no-subreaper") a = "--no-subreaper";
    fixed_args.push_back(a);
  }
  std::vector<char*> fixed_argv{argv[0]};
  for (auto& a : fixed_args) fixed_argv.push_back(a.data());
  fixed_argv.push_back(nullptr);

  try {
    app.parse(argc, fixed_argv.data());
  } catch (const CLI::ParseError& e) {
    if (auto word = unknown_command(app)) return fail_unknown_command(*word);
    return app.exit(e);
  }
  log::configure(g.log, g.log_format == "json" ? log::Format::json : log::Format::text, g.debug);
  // Only create and run make cgroups; later commands find the driver in the saved state.
  cgroups::set_driver(g.systemd_cgroup ? cgroups::Driver::systemd : cgroups::Driver::cgroupfs);
  try {
    if (root_option->count() == 0) g.root = cli::default_root_for_caller();
    return action ? action() : 0;
  } catch (const std::exception& e) {
    log::error(e.what());
    if (!log::logs_to_stderr()) std::fprintf(stderr, "%s\n", e.what());  // runc: the bare message
    return 1;
  }
}
