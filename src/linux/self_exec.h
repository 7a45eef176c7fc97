// CVE-2019-5736 defence: vessel-runtime re-executes itself from a sealed in-memory copy of its
// binary before it forks into a container, so that no process of the container can reach the
// host's binary through /proc/PID/exe, even one with CAP_SYS_PTRACE or during a window where the
// runtime is dumpable. The copy is a memfd with every write and resize sealed: a container that
// opens it can read it, but neither it nor the host file can be changed through it.
#pragma once

#include <string>

#include "util/fd.h"

namespace vessel::linux {

// The seals a copy carries. F_SEAL_FUTURE_WRITE (Linux 5.1) is added on top where known.
int required_seals();

// Whether fd is a memfd (or other sealable file) carrying every seal of required_seals().
// A regular file, a pipe, an unsealed memfd or a plain tmpfs file (which reports only
// F_SEAL_SEAL) are not. Never throws: any failure to read the seals means "no".
bool is_sealed_copy(int fd);

// Copies the file open for reading on src into a new memfd called `name` (MFD_CLOEXEC) and seals
// it. Of an ELF file of this process's class only what exec loads is copied (headers and
// segments, not sections: symbols and debug info), and the copy says it has no section headers;
// any other file is copied whole. The copy starts from offset 0 whatever src's position is.
UniqueFd make_sealed_copy(int src, const std::string& name);

// Whether this vessel-runtime command line (argv as main() gets it) runs a subcommand whose
// processes fork into a container's namespaces, and so needs the sealed copy. See self_exec.cc.
bool command_enters_container(int argc, char** argv);

// When the command enters a container and this process does not already run from a sealed copy,
// replaces the process with a sealed copy of /proc/self/exe, same argv and environment; returns
// otherwise. Throws vessel::Error when the copy cannot be made or executed: the runtime must not
// go on to start container processes from the host binary.
void ensure_running_from_sealed_copy(int argc, char** argv);

// ensure_running_from_sealed_copy for the first line of main(), before logging is set up: on an
// error, prints it on stderr and exits with status 1.
void ensure_running_from_sealed_copy_or_exit(int argc, char** argv) noexcept;

}  // namespace vessel::linux
