// vessel checkpoint, vessel restore (manager/checkpoint.h, docs/checkpoint.md).
#include "manager/checkpoint.h"

#include <cstdio>

#include "cli/manager/commands.h"

namespace vessel::cli {

void add_checkpoint(CLI::App& app, Globals& g, Action& action) {
  auto* ck = app.add_subcommand(
      "checkpoint",
      "freeze a running container to disk with CRIU (it stops, its checkpoint kept for restore)");
  auto creq = std::make_shared<manager::CheckpointRequest>();
  ck->add_option("CONTAINER", creq->ref, "name or ID")->required();
  ck->add_option("-e,--export", creq->export_path,
                 "also write the checkpoint, the container's record and its root filesystem "
                 "changes to this tar.gz (restore --import takes it)");
  ck->add_flag("-R,--leave-running", creq->leave_running,
               "the container keeps running after the checkpoint");
  ck->add_flag("--tcp-established", creq->tcp_established,
               "checkpoint established TCP connections");
  ck->add_flag("--file-locks", creq->file_locks, "checkpoint file locks");
  ck->callback([&g, &action, creq] {
    action = [&g, creq]() -> int {
      auto c = manager::checkpoint_container(g.store(), *creq);
      std::puts(c.name.c_str());
      return 0;
    };
  });

  auto* rs = app.add_subcommand(
      "restore", "bring a checkpointed container back, running, under a monitor of its own");
  auto rreq = std::make_shared<manager::RestoreRequest>();
  rs->add_option("CONTAINER", rreq->ref, "a container with a checkpoint (name or ID)");
  rs->add_option("-i,--import", rreq->import_path,
                 "a new container from an archive of checkpoint --export (its image must be "
                 "in this store or obtainable; volumes are matched by name)");
  rs->add_option("-n,--name", rreq->name, "with --import: the new container's name");
  rs->add_flag("--tcp-established", rreq->tcp_established, "restore established TCP connections");
  rs->add_flag("--keep", rreq->keep, "keep the checkpoint after the restore");
  rs->callback([&g, &action, rreq] {
    action = [&g, rreq]() -> int {
      auto c = manager::restore_container(g.store(), *rreq);
      std::puts(c.name.c_str());
      return 0;
    };
  });
}

}  // namespace vessel::cli
