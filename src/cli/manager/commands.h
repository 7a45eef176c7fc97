// vessel's command line: one file per command (or command group), each registering itself.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "manager/options.h"
#include "manager/store.h"

namespace vessel::cli {

struct Globals {
  std::string root = "/var/lib/vessel";
  std::string runroot;  // default: /run/vessel, or <root>/run for a non-default --root
  bool debug = false;
  std::unique_ptr<manager::Store> store_;
  manager::Store& store();
};

using Action = std::function<int()>;

void add_run(CLI::App& app, Globals& g, Action& action);   // run, create, start, attach
void add_stop(CLI::App& app, Globals& g, Action& action);  // stop, kill, restart
void add_rm(CLI::App& app, Globals& g, Action& action);    // rm, container prune
void add_ps(CLI::App& app, Globals& g, Action& action);
void add_logs(CLI::App& app, Globals& g, Action& action);
void add_exec(CLI::App& app, Globals& g, Action& action);
void add_inspect(CLI::App& app, Globals& g, Action& action);  // inspect, top, stats, wait, rename
void add_pause(CLI::App& app, Globals& g, Action& action);    // pause, unpause
void add_images(CLI::App& app, Globals& g, Action& action);   // images, rmi, image …, tag
void add_load(CLI::App& app, Globals& g, Action& action);     // load, import, save
void add_pull(CLI::App& app, Globals& g, Action& action);     // pull, push
void add_template(CLI::App& app, Globals& g, Action& action);
void add_volume(CLI::App& app, Globals& g, Action& action);
void add_network(CLI::App& app, Globals& g, Action& action);
void add_system(CLI::App& app, Globals& g, Action& action);
void add_cp(CLI::App& app, Globals& g, Action& action);  // cp, export
void add_commit(CLI::App& app, Globals& g, Action& action);  // commit, diff, history
void add_build(CLI::App& app, Globals& g, Action& action);
void add_system_service(CLI::App* sys, Globals& g, Action& action);  // system service (API)
// completion bash|zsh; hidden __complete and __generate-man (man pages at build time).
void add_docs(CLI::App& app, Globals& g, Action& action);

// Reads the settings file(s) (--config, or the default ones) into manager::config(), with the
// global flags on top, and fills in what the flags left unset (root, runroot, storage driver).
void add_info(CLI::App& app, Globals& g, Action& action);   // info, system info, version
void add_login(CLI::App& app, Globals& g, Action& action);  // login, logout
void apply_config(CLI::App& app, Globals& g, const std::string& config_file,
                  std::string& storage_driver);
void add_events(CLI::App& app, Globals& g, Action& action);
void add_healthcheck(CLI::App& app, Globals& g, Action& action);  // healthcheck run, the loop
void add_update(CLI::App& app, Globals& g, Action& action);
void add_port(CLI::App& app, Globals& g, Action& action);  // port
void add_checkpoint(CLI::App& app, Globals& g, Action& action);  // checkpoint, restore

// The flags shared by run and create, filled into `o`.
void add_run_flags(CLI::App* cmd, manager::RunOptions& o, std::shared_ptr<struct RunFlagValues> v);
struct RunFlagValues {
  std::vector<std::string> env, env_files, volumes, mounts, tmpfs, labels, networks, publish;
  std::vector<std::string> log_opts;
  std::string memory, memory_swap, restart, entrypoint, gpus;
  std::string health_cmd, health_interval, health_timeout, health_start_period, health_on_failure;
  int health_retries = 0;
  bool no_healthcheck = false;
  double cpus = 0;
  int64_t pids_limit = 0;
  uint64_t cpu_shares = 0;
  uint16_t blkio_weight = 0;
  bool has_cpus = false;
};
// Turns the raw flag values into RunOptions (sizes, volumes, env files…); throws on bad input.
void finish_run_options(CLI::App* cmd, manager::RunOptions& o, const RunFlagValues& v);

// Prints a table with columns padded to their widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows);
std::string human_size(uint64_t bytes);
std::string human_ago(const std::string& rfc3339);
// --format with a Go template (util/go_template.h): "TEMPLATE" prints each row through it,
// "table TEMPLATE" adds the header row and aligns columns. False for "", "json" and a bare
// "table": the command prints its own JSON or default table then.
bool print_template(const std::string& format, const nlohmann::json& rows,
                    const nlohmann::json& headers);
// inspect --format TEMPLATE: the template on each object, one output line each; false for ""
// and "json" (print the JSON array then).
bool print_inspect(const std::string& format, const nlohmann::json& objects);
// An RFC 3339 time as docker's CreatedAt prints it: "2006-01-02 15:04:05 +0000 UTC".
std::string docker_time(const std::string& rfc3339);

// How a client is attached: a terminal (-t), its input sent (-i), the signals it gets passed on
// to the container (--sig-proxy; never with a terminal, as docker), the detach keys (bytes).
struct AttachMode {
  bool tty = false;
  bool interactive = false;
  bool sig_proxy = true;
  std::string detach_keys;
};
// --detach-keys when given (`given`), else vessel.conf's containers.detach_keys, else ctrl-p,ctrl-q.
std::string detach_keys_for(bool given, const std::string& flag);
// Relays an attached container's stream to this terminal until it exits; the exit code (0 after
// the detach keys, 128+N when a signal N that is not passed on ends the client).
int attach_stream(int stream, manager::Store& store, const std::string& id, const AttachMode& m);

}  // namespace vessel::cli
