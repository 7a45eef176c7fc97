// vessel-runtime: an OCI runtime with runc's command-line contract.
#include <seccomp.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
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

using AddCommand = void (*)(CLI::App&, vessel::cli::Globals&, vessel::cli::Action&);
struct CommandDef {
  const char* name;
  AddCommand add;
};
const CommandDef kCommands[] = {
    {"create", vessel::cli::add_create},
    {"start", vessel::cli::add_start},
    {"run", vessel::cli::add_run},
    {"state", vessel::cli::add_state},
    {"kill", vessel::cli::add_kill},
    {"delete", vessel::cli::add_delete},
    {"list", vessel::cli::add_list},
    {"spec", vessel::cli::add_spec},
    {"features", vessel::cli::add_features},
    {"exec", vessel::cli::add_exec},
    {"pause", vessel::cli::add_pause},
    {"resume", vessel::cli::add_resume},
    {"ps", vessel::cli::add_ps},
    {"update", vessel::cli::add_update},
    {"events", vessel::cli::add_events},
    {"checkpoint", vessel::cli::add_checkpoint},
    {"restore", vessel::cli::add_restore},
    {"__generate-man", vessel::cli::add_docs},
};

// The command that argv names: the first word that is neither a global option nor its value.
// Defining only that one subcommand spares every start the construction of the other
// seventeen (CLI11 builds each option's names, validators and callbacks: about a third of the
// runtime's user-space CPU before it did any work). nullptr, and so every command defined,
// when the line asks for general help or the version, names no command, or names an unknown one
// (so the messages for those stay exactly as they were).
const CommandDef* named_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return nullptr;
    if (a.size() > 1 && a[0] == '-') {
      std::string_view name = a.substr(a.rfind("--", 0) == 0 ? 2 : 1);
      if (name.find('=') != std::string_view::npos) continue;
      if (name == "root" || name == "log" || name == "log-format" || name == "rootless" ||
          name == "criu")
        ++i;  // its value is the next word
      else if (name == "h" || name == "help" || name == "help-all" || name == "v" ||
               name == "version")
        return nullptr;
      continue;  // a flag (--debug, --systemd-cgroup) or an unknown option: CLI11 judges it
    }
    if (a == "__generate-man") return nullptr;  // writes the pages of every command
    for (const CommandDef& c : kCommands)
      if (a == c.name) return &c;
    return nullptr;
  }
  return nullptr;
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
  app.add_option("--criu", g.criu, "path to the criu binary for checkpoint and restore")->group("");

  cli::Action action;
  if (const CommandDef* named = named_command(argc, argv)) {
    named->add(app, g, action);
  } else {
    for (const CommandDef& c : kCommands) c.add(app, g, action);
  }

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
