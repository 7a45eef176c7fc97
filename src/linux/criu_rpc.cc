#include "linux/criu_rpc.h"

#include "util/error.h"

namespace vessel::linux::criu {
namespace {

constexpr uint32_t kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5;

void put_int_field(std::string& out, uint32_t field, int64_t v) {
  put_uint_field(out, field, static_cast<uint64_t>(v));  // negative int32: 10 bytes, as protobuf
}
void put_bool_field(std::string& out, uint32_t field, bool v) {
  if (v) put_uint_field(out, field, 1);
}
void put_pair(std::string& out, uint32_t field, const std::string& a, const std::string& b) {
  std::string m;
  put_bytes_field(m, 1, a);
  put_bytes_field(m, 2, b);
  put_bytes_field(out, field, m);
}

std::string encode_opts(const Opts& o) {
  std::string m;
  put_int_field(m, 1, o.images_dir_fd);
  if (o.pid) put_int_field(m, 2, *o.pid);
  put_bool_field(m, 3, o.leave_running);
  put_bool_field(m, 4, o.ext_unix_sk);
  put_bool_field(m, 5, o.tcp_established);
  put_bool_field(m, 7, o.shell_job);
  put_bool_field(m, 8, o.file_locks);
  put_int_field(m, 9, o.log_level);
  if (!o.log_file.empty()) put_bytes_field(m, 10, o.log_file);
  if (o.ps_address || o.ps_port) {
    std::string ps;
    if (o.ps_address) put_bytes_field(ps, 1, *o.ps_address);
    if (o.ps_port) put_int_field(ps, 2, *o.ps_port);
    put_bytes_field(m, 11, ps);
  }
  put_bool_field(m, 12, o.notify_scripts);
  if (!o.root.empty()) put_bytes_field(m, 13, o.root);
  if (!o.parent_img.empty()) put_bytes_field(m, 14, o.parent_img);
  put_bool_field(m, 15, o.track_mem);
  put_bool_field(m, 16, o.auto_dedup);
  if (o.work_dir_fd >= 0) put_int_field(m, 17, o.work_dir_fd);
  for (const auto& [k, v] : o.ext_mnt) put_pair(m, 23, k, v);
  put_bool_field(m, 24, o.manage_cgroups);
  for (const auto& [ctrl, path] : o.cg_root) {
    std::string c;
    if (!ctrl.empty()) put_bytes_field(c, 1, ctrl);
    put_bytes_field(c, 2, path);
    put_bytes_field(m, 25, c);
  }
  put_bool_field(m, 26, o.rst_sibling);
  for (const auto& [k, fd] : o.inherit_fd) {
    std::string c;
    put_bytes_field(c, 1, k);
    put_int_field(c, 2, fd);
    put_bytes_field(m, 27, c);
  }
  if (o.manage_cgroups_mode) put_uint_field(m, 34, static_cast<uint32_t>(*o.manage_cgroups_mode));
  for (const auto& e : o.external) put_bytes_field(m, 37, e);
  if (o.empty_ns) put_uint_field(m, 38, *o.empty_ns);
  if (!o.freeze_cgroup.empty()) put_bytes_field(m, 44, o.freeze_cgroup);
  put_bool_field(m, 48, o.lazy_pages);
  if (o.status_fd) put_int_field(m, 49, *o.status_fd);
  put_bool_field(m, 50, o.orphan_pts_master);
  return m;
}

// A cursor over one message's bytes.
class Reader {
 public:
  explicit Reader(const std::string& b) : b_(b) {}
  bool done() const { return pos_ >= b_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) fail("CRIU's response is truncated (varint)");
      auto byte = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    fail("CRIU's response has a malformed varint");
  }
  std::string bytes() {
    uint64_t n = varint();
    if (n > b_.size() - pos_) fail("CRIU's response is truncated (field of {} bytes)", n);
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case kVarint:
        varint();
        return;
      case kLen:
        bytes();
        return;
      case kFixed64:
        advance(8);
        return;
      case kFixed32:
        advance(4);
        return;
      default:
        fail("CRIU's response has an unknown wire type {}", wire_type);
    }
  }

 private:
  void advance(size_t n) {
    if (n > b_.size() - pos_) fail("CRIU's response is truncated");
    pos_ += n;
  }
  const std::string& b_;
  size_t pos_ = 0;
};

// Calls f(field, wire_type, reader) for each field; f consumes the value or returns false.
template <typename F>
void for_each_field(const std::string& bytes, F&& f) {
  Reader r(bytes);
  while (!r.done()) {
    uint64_t tag = r.varint();
    auto field = static_cast<uint32_t>(tag >> 3);
    auto wt = static_cast<uint32_t>(tag & 7);
    if (!f(field, wt, r)) r.skip(wt);
  }
}

}  // namespace

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_tag(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

void put_bytes_field(std::string& out, uint32_t field, const std::string& bytes) {
  put_tag(out, field, kLen);
  put_varint(out, bytes.size());
  out += bytes;
}

void put_uint_field(std::string& out, uint32_t field, uint64_t v) {
  put_tag(out, field, kVarint);
  put_varint(out, v);
}

std::string encode_request(ReqType type, const Opts* opts, bool notify_success) {
  std::string m;
  put_uint_field(m, 1, static_cast<uint32_t>(type));
  if (opts) put_bytes_field(m, 2, encode_opts(*opts));
  put_bool_field(m, 3, notify_success);
  if (type == ReqType::feature_check) {
    std::string f;  // criu_features: ask about mem_track and lazy_pages
    put_bool_field(f, 1, true);
    put_bool_field(f, 2, true);
    put_bytes_field(m, 5, f);
  }
  return m;
}

Response decode_response(const std::string& bytes) {
  Response r;
  auto as_i32 = [](uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); };
  for_each_field(bytes, [&](uint32_t field, uint32_t wt, Reader& rd) {
    if (wt == kVarint) {
      uint64_t v;
      switch (field) {
        case 1:
          r.type = static_cast<ReqType>(rd.varint());
          return true;
        case 2:
          r.success = rd.varint() != 0;
          return true;
        case 7:
          v = rd.varint();
          r.cr_errno = as_i32(v);
          return true;
        default:
          return false;
      }
    }
    if (wt != kLen) return false;
    switch (field) {
      case 3:  // criu_dump_resp
        for_each_field(rd.bytes(), [&](uint32_t f, uint32_t w, Reader& d) {
          if (f == 1 && w == kVarint) return r.dump_restored = d.varint() != 0, true;
          return false;
        });
        return true;
      case 4:  // criu_restore_resp
        for_each_field(rd.bytes(), [&](uint32_t f, uint32_t w, Reader& d) {
          if (f == 1 && w == kVarint) return r.restore_pid = as_i32(d.varint()), true;
          return false;
        });
        return true;
      case 5:  // criu_notify
        for_each_field(rd.bytes(), [&](uint32_t f, uint32_t w, Reader& d) {
          if (f == 1 && w == kLen) return r.notify_script = d.bytes(), true;
          if (f == 2 && w == kVarint) return r.notify_pid = as_i32(d.varint()), true;
          return false;
        });
        return true;
      case 8:  // criu_features
        for_each_field(rd.bytes(), [&](uint32_t f, uint32_t w, Reader& d) {
          if (w != kVarint) return false;
          if (f == 1) return r.feature_mem_track = d.varint() != 0, true;
          if (f == 2) return r.feature_lazy_pages = d.varint() != 0, true;
          return false;
        });
        return true;
      case 9:
        r.cr_errmsg = rd.bytes();
        return true;
      case 10:  // criu_version
        for_each_field(rd.bytes(), [&](uint32_t f, uint32_t w, Reader& d) {
          if (w != kVarint) return false;
          int32_t v = as_i32(d.varint());
          if (f == 1)
            r.version_major = v;
          else if (f == 2)
            r.version_minor = v;
          else if (f == 4)
            r.version_sublevel = v;
          return true;
        });
        return true;
      default:
        return false;
    }
  });
  return r;
}

}  // namespace vessel::linux::criu
