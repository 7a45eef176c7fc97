// checkpoint and restore: runc's commands and flags, through CRIU's RPC (runtime/checkpoint.cc,
// runtime/restore.cc).
#include <unistd.h>

#include "cli/runtime/commands.h"
#include "runtime/container.h"
#include "util/error.h"

namespace vessel::cli {
namespace {

std::string default_image_path() {
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return "checkpoint";
  return std::string(cwd) + "/checkpoint";
}

void add_common(CLI::App* cmd, runtime::CriuCommonOptions& c) {
  cmd->add_option("--image-path", c.image_path,
                  "directory for CRIU's image files (default: ./checkpoint)");
  cmd->add_option("--work-path", c.work_path,
                  "directory for CRIU's logs and work files (default: the image path)");
  cmd->add_flag("--tcp-established", c.tcp_established, "allow open TCP connections");
  cmd->add_flag("--ext-unix-sk", c.ext_unix_sk, "allow external unix sockets");
  cmd->add_flag("--shell-job", c.shell_job, "allow shell jobs");
  cmd->add_flag("--file-locks", c.file_locks, "handle file locks");
  cmd->add_option("--manage-cgroups-mode", c.manage_cgroups_mode,
                  "cgroups mode: soft (default), full, strict or ignore");
  cmd->add_option("--empty-ns", c.empty_ns,
                  "a namespace to leave empty (network): its contents are not checkpointed");
  cmd->add_flag("--lazy-pages", c.lazy_pages, "use userfaultfd to lazily restore memory pages");
}

}  // namespace

void add_checkpoint(CLI::App& app, Globals& g, Action& action) {
  auto o = std::make_shared<runtime::CheckpointOptions>();
  auto status_fd = std::make_shared<int>(-1);
  CLI::App* cmd = app.add_subcommand(
      "checkpoint", "checkpoint a running container with CRIU (its images in --image-path)");
  cmd->add_option("container-id", o->id, "the container")->required();
  add_common(cmd, o->common);
  cmd->add_option("--parent-path", o->parent_path,
                  "path of a previous (pre-dump) checkpoint, relative to --image-path");
  cmd->add_flag("--leave-running", o->leave_running, "leave the process running after it");
  cmd->add_flag("--pre-dump", o->pre_dump, "dump the memory only, leaving the container running");
  cmd->add_flag("--auto-dedup", o->auto_dedup, "deduplicate images against the parent's");
  cmd->add_option("--page-server", o->page_server, "ADDRESS:PORT of a CRIU page server");
  cmd->add_option("--status-fd", *status_fd, "accepted for runc compatibility")->group("");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      if (o->common.image_path.empty()) o->common.image_path = default_image_path();
      o->common.criu = g.criu;
      runtime::Runtime(g.root).checkpoint(*o);
      return 0;
    };
  });
}

void add_restore(CLI::App& app, Globals& g, Action& action) {
  auto o = std::make_shared<runtime::RestoreOptions>();
  auto ignored = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("restore", "restore a container from a checkpoint (CRIU images)");
  cmd->add_option("container-id", o->id, "the new container")->required();
  add_common(cmd, o->common);
  cmd->add_option("-b,--bundle", o->bundle, "path to the bundle (default: .)");
  cmd->add_flag("-d,--detach", o->detach, "detach from the container's process");
  cmd->add_option("--pid-file", o->pid_file, "file to write the restored init's PID to");
  cmd->add_option("--console-socket", o->console_socket,
                  "unix socket to send the restored terminal's new pty master to "
                  "(process.terminal)");
  cmd->add_flag("--no-subreaper", o->no_subreaper, "do not become the container's subreaper");
  cmd->add_flag("--no-pivot", o->no_pivot,
                "accepted: CRIU sets the restored root itself, pivot_root or not");
  cmd->add_flag("--auto-dedup", o->auto_dedup, "punch holes in the images as pages are restored");
  cmd->add_option("--lsm-profile", *ignored, "accepted for runc compatibility")->group("");
  cmd->add_option("--lsm-mount-context", *ignored, "accepted for runc compatibility")->group("");
  cmd->callback([&g, &action, o] {
    action = [&g, o] {
      if (o->common.image_path.empty()) o->common.image_path = default_image_path();
      o->common.criu = g.criu;
      return runtime::Runtime(g.root).restore(*o);
    };
  });
}

}  // namespace vessel::cli
