// runc's checkpoint and restore options (runtime/checkpoint.cc, runtime/restore.cc).
#pragma once

#include <string>

namespace vessel::runtime {

// Flags that checkpoint and restore share.
struct CriuCommonOptions {
  std::string image_path;  // required
  std::string work_path;   // CRIU's logs and work files (default: the image path)
  bool tcp_established = false;
  bool ext_unix_sk = false;
  bool shell_job = false;
  bool file_locks = false;
  std::string manage_cgroups_mode;  // "", soft, full, strict, ignore
  std::string empty_ns;             // namespace type restored empty ("network")
  bool lazy_pages = false;
  std::string criu;  // the criu program ("": $VESSEL_CRIU or PATH)
};

struct CheckpointOptions {
  std::string id;
  CriuCommonOptions common;
  std::string parent_path;  // relative to image_path
  bool leave_running = false;
  bool pre_dump = false;
  bool auto_dedup = false;
  std::string page_server;  // ADDRESS:PORT
};

struct RestoreOptions {
  std::string id;
  CriuCommonOptions common;
  std::string bundle = ".";
  bool detach = false;
  std::string pid_file;
  std::string console_socket;
  bool no_subreaper = false;
  bool no_pivot = false;
  bool auto_dedup = false;
};

// The file, in the image directory, where checkpoint writes what restore needs beyond CRIU's
// images: the init's stdio as /proc/PID/fd names them, and the namespaces it had joined.
inline constexpr const char* kCheckpointDescriptors = "descriptors.json";

}  // namespace vessel::runtime
