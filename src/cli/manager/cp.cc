// vessel cp, export.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "cli/manager/commands.h"
#include "manager/copy.h"
#include "util/error.h"
#include "util/fd.h"

namespace vessel::cli {

void add_cp(CLI::App& app, Globals& g, Action& action) {
  auto* cp = app.add_subcommand(
      "cp", "copy files between a container and the host: SRC DEST, one of them NAME:PATH");
  cp->footer(
      "SRC/. copies a directory's contents; an existing DEST directory receives SRC under its\n"
      "own name, a missing DEST is created; a file overwrites a file, a directory never does;\n"
      "a DEST ending in / must be a directory. \"-\" as SRC: a tar on stdin unpacked into the\n"
      "DEST directory; as DEST: a tar of SRC on stdout. Container paths are resolved inside\n"
      "the container (symlinks and \"..\" never leave it, in volumes too; relative ones start\n"
      "at /). Volumes and bind mounts are seen where the container has them (read-only ones\n"
      "are not written); tmpfs, /proc and /sys are not. Stopped containers too.");
  auto src = std::make_shared<std::string>();
  auto dest = std::make_shared<std::string>();
  auto opts = std::make_shared<manager::CopyOptions>();
  cp->add_flag("-a,--archive", opts->archive, "keep the source's uid/gid (default: the copier's)");
  cp->add_flag("-L,--follow-link", opts->follow_link, "follow a symlink that is SRC's last part");
  cp->add_option("SRC", *src, "NAME:PATH, a host path, or -")->required();
  cp->add_option("DEST", *dest, "NAME:PATH, a host path, or -")->required();
  cp->callback([&g, &action, src, dest, opts] {
    action = [&g, src, dest, opts]() -> int {
      ::signal(SIGPIPE, SIG_IGN);  // a closed reader is an error to report, not a death
      auto s = manager::CopyEndpoint::parse(*src);
      auto d = manager::CopyEndpoint::parse(*dest);
      if (d.stream && ::isatty(STDOUT_FILENO))
        fail("cp: refusing to write a tar to a terminal (redirect stdout)");
      manager::copy_files(g.store(), s, d, *opts);
      return 0;
    };
  });

  auto* exp = app.add_subcommand(
      "export",
      "write a container's root filesystem as a tar (flattened: its image and changes, "
      "without what is mounted on it)");
  auto name = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  exp->add_option("-o,--output", *out, "file to write (default: stdout, if not a terminal)");
  exp->add_option("CONTAINER", *name, "name or ID")->required();
  exp->callback([&g, &action, name, out] {
    action = [&g, name, out]() -> int {
      ::signal(SIGPIPE, SIG_IGN);
      if (out->empty()) {
        if (::isatty(STDOUT_FILENO))
          fail("export: refusing to write a tar to a terminal (use -o FILE or redirect stdout)");
        manager::export_container(g.store(), *name, STDOUT_FILENO);
        return 0;
      }
      std::string tmp = *out + ".partial";
      UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!fd) fail_errno("export: create {}", tmp);
      try {
        manager::export_container(g.store(), *name, fd.get());
        if (::fsync(fd.get()) < 0) fail_errno("export: write {}", tmp);
        if (::rename(tmp.c_str(), out->c_str()) < 0) fail_errno("export: rename to {}", *out);
      } catch (...) {
        ::unlink(tmp.c_str());
        throw;
      }
      return 0;
    };
  });
}

}  // namespace vessel::cli
