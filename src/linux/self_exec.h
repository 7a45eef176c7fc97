// CVE-2019-5736 defence: vessel-runtime re-executes itself from a view of its binary that cannot
// be written before it forks into a container, so that no process of the container can change
// the host's binary through /proc/PID/exe, even one with CAP_SYS_PTRACE or during a window where
// the runtime is dumpable. As root the view is the binary itself through a read-only bind mount
// that no mount namespace holds (no copy: the page cache is shared, a write fails with EROFS and
// the mount can never be made writable); where the kernel refuses that (rootless, Linux < 5.12)
// it is a copy in a memfd with every write and resize sealed. A container that opens either can
// read it, but neither it nor the host file can be changed through it.
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

// A read-only view of the file at `path` that no mount table lists: the fd of a bind mount of
// that file cloned with open_tree(OPEN_TREE_CLONE | O_CLOEXEC) and made read-only, nosuid and
// nodev with mount_setattr. Once that fd is closed (by the exec it is used for), the mount
// belongs to no namespace and can never be made writable again. An invalid fd when the kernel
// refuses (no CAP_SYS_ADMIN over the mount namespace, Linux before 5.12).
UniqueFd open_readonly_detached_view(const std::string& path);

// Whether fd is open on a read-only mount that is not in this process's mount namespace (a view
// from open_readonly_detached_view after its tree fd was closed). A file on a read-only mount of
// this namespace is not: an administrator may remount that read-write.
bool is_detached_readonly(int fd);

// is_sealed_copy(fd) || is_detached_readonly(fd): what ensure_running_from_sealed_copy accepts
// as a binary that no container can write to.
bool is_protected_exe(int fd);

// Whether this vessel-runtime command line (argv as main() gets it) runs a subcommand whose
// processes fork into a container's namespaces, and so needs the sealed copy. See self_exec.cc.
bool command_enters_container(int argc, char** argv);

// When the command enters a container and this process does not already run from a protected
// binary (is_protected_exe), replaces the process with one, same argv and environment: the binary
// through open_readonly_detached_view where the kernel allows it, else a sealed memfd copy of
// /proc/self/exe. Returns otherwise. Throws vessel::Error when the copy cannot be made or executed:
// the runtime must not go on to start container processes from the host binary.
void ensure_running_from_sealed_copy(int argc, char** argv);

// ensure_running_from_sealed_copy for the first line of main(), before logging is set up: on an
// error, prints it on stderr and exits with status 1.
void ensure_running_from_sealed_copy_or_exit(int argc, char** argv) noexcept;

}  // namespace vessel::linux
