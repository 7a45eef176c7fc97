// Small file helpers with errors that name the path.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <string>

#include "util/fd.h"

namespace vessel {

UniqueFd open_or_throw(const std::string& path, int flags, mode_t mode = 0);
std::string read_file(const std::string& path);
std::string read_fd(int fd);
void write_file(const std::string& path, const std::string& data, int flags = O_WRONLY | O_TRUNC);
// Writes to a temporary file in the same directory, fsyncs nothing (state lives on tmpfs),
// then renames over `path`, so readers see the old or the new content, never half.
void write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0600);
void write_all(int fd, const void* data, size_t len);
// All of `len` bytes to a socket, without SIGPIPE: false when the peer went away (errno set),
// for streams to clients that may disconnect at any time.
bool send_all(int fd, const void* data, size_t len);
bool path_exists(const std::string& path);
// The folder of this process's program (/proc/self/exe), where vessel's other programs are
// installed beside it; "" if it cannot be read.
std::string own_program_dir();
void mkdir_p(const std::string& path, mode_t mode = 0755);
void remove_tree(const std::string& path);

}  // namespace vessel
