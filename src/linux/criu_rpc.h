// The messages vessel exchanges with `criu swrk`, in protobuf's wire format. The field numbers
// are those of CRIU's RPC schema (Debian's criu package ships it as /usr/include/criu/rpc.proto);
// only the fields vessel sends or reads are known here, so no protobuf library is needed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vessel::linux::criu {

// criu_req_type
enum class ReqType : uint32_t {
  empty = 0,
  dump = 1,
  restore = 2,
  check = 3,
  pre_dump = 4,
  notify = 6,
  feature_check = 9,
  version = 10,
};

// criu_cg_mode
enum class CgroupMode : uint32_t {
  ignore = 0,
  none = 1,
  props = 2,
  soft = 3,
  full = 4,
  strict = 5
};

// A subset of criu_opts.
struct Opts {
  int images_dir_fd = -1;
  std::optional<int> pid;
  bool leave_running = false;
  bool ext_unix_sk = false;
  bool tcp_established = false;
  bool shell_job = false;
  bool file_locks = false;
  int log_level = 4;
  std::string log_file;
  std::string root;
  std::string parent_img;
  bool track_mem = false;
  bool auto_dedup = false;
  int work_dir_fd = -1;
  bool manage_cgroups = false;
  std::optional<CgroupMode> manage_cgroups_mode;
  std::vector<std::pair<std::string, std::string>> ext_mnt;  // key, value
  std::vector<std::pair<std::string, std::string>> cg_root;  // controller ("" = all), path
  bool rst_sibling = false;
  std::vector<std::pair<std::string, int>> inherit_fd;  // key, fd
  std::vector<std::string> external;
  std::optional<uint32_t> empty_ns;  // clone flags of namespaces restored empty
  bool lazy_pages = false;
  std::optional<int> status_fd;
  std::optional<std::string> ps_address;  // page server
  std::optional<int> ps_port;
  bool orphan_pts_master = false;
  std::string freeze_cgroup;  // the freezer cgroup directory CRIU freezes (and thaws) itself
  bool notify_scripts = false;
};

std::string encode_request(ReqType type, const Opts* opts, bool notify_success = false);

// What vessel reads of criu_resp.
struct Response {
  ReqType type = ReqType::empty;
  bool success = false;
  std::optional<bool> dump_restored;
  std::optional<int32_t> restore_pid;
  std::string notify_script;
  std::optional<int32_t> notify_pid;
  std::optional<int32_t> cr_errno;
  std::string cr_errmsg;
  std::optional<int32_t> version_major, version_minor, version_sublevel;
  bool feature_lazy_pages = false, feature_mem_track = false;
};

// Throws on malformed input.
Response decode_response(const std::string& bytes);

// Wire-format primitives (exposed for the unit tests).
void put_varint(std::string& out, uint64_t v);
void put_tag(std::string& out, uint32_t field, uint32_t wire_type);
void put_bytes_field(std::string& out, uint32_t field, const std::string& bytes);
void put_uint_field(std::string& out, uint32_t field, uint64_t v);

}  // namespace vessel::linux::criu
