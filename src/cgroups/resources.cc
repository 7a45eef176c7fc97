#include "cgroups/resources.h"

#include "cgroups/convert.h"
#include "util/error.h"

namespace vessel::cgroups {
namespace {

using nlohmann::json;

// A JSON value with its path in config.json, so that every complaint names the field.
class Value {
 public:
  Value(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  [[noreturn]] void bad(const std::string& why) const {
    std::string shown = j_.dump();
    if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
    fail("{}: {} (value {})", path_, why, shown);
  }

  // Absent and null both mean "not set".
  std::optional<Value> get(const char* key) const {
    if (!j_.contains(key) || j_[key].is_null()) return std::nullopt;
    return Value(j_[key], path_ + "." + key);
  }

  const json& object() const {
    if (!j_.is_object()) bad("expected an object");
    return j_;
  }
  const json& array() const {
    if (!j_.is_array()) bad("expected an array");
    return j_;
  }
  int64_t i64() const {
    if (j_.is_number_unsigned() && j_.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      bad("out of range for a 64-bit integer");
    if (!j_.is_number_integer()) bad("expected an integer");
    return j_.get<int64_t>();
  }
  uint64_t u64() const {
    if (j_.is_number_unsigned()) return j_.get<uint64_t>();
    if (j_.is_number_integer() && j_.get<int64_t>() >= 0) return j_.get<uint64_t>();
    bad("expected an unsigned integer");
  }
  uint32_t u32() const {
    uint64_t n = u64();
    if (n > UINT32_MAX) bad("out of range for a 32-bit unsigned integer");
    return static_cast<uint32_t>(n);
  }
  bool boolean() const {
    if (!j_.is_boolean()) bad("expected true or false");
    return j_.get<bool>();
  }
  std::string str() const {
    if (!j_.is_string()) bad("expected a string");
    return j_.get<std::string>();
  }

  const std::string& path() const { return path_; }
  Value at(size_t i) const { return Value(j_[i], path_ + "[" + std::to_string(i) + "]"); }

 private:
  const json& j_;
  std::string path_;
};

// A required member of an object.
Value required(const Value& parent, const char* key) {
  auto v = parent.get(key);
  if (!v) parent.bad(fmt::format("\"{}\" is required", key));
  return *v;
}

// blkio weights: 10-1000, with 0 meaning "not set" (runc's convention).
std::optional<uint16_t> blkio_weight_of(const Value& parent, const char* key) {
  auto v = parent.get(key);
  if (!v) return std::nullopt;
  uint64_t n = v->u64();
  if (n == 0) return std::nullopt;
  if (n < 10 || n > 1000) v->bad("expected 10-1000");
  return static_cast<uint16_t>(n);
}

// Block device numbers in weightDevice and throttle entries: both required, not negative.
void block_device(const Value& v, int64_t& major, int64_t& minor) {
  for (auto [key, out] : {std::pair{"major", &major}, std::pair{"minor", &minor}}) {
    Value n = required(v, key);
    *out = n.i64();
    if (*out < 0 || *out > UINT32_MAX) n.bad("expected a device number");
  }
}

std::vector<ThrottleDevice> throttle_list(const Value& bio, const char* key) {
  std::vector<ThrottleDevice> out;
  auto list = bio.get(key);
  if (!list) return out;
  for (size_t i = 0; i < list->array().size(); ++i) {
    Value e = list->at(i);
    e.object();
    ThrottleDevice t;
    block_device(e, t.major, t.minor);
    t.rate = required(e, "rate").u64();
    out.push_back(t);
  }
  return out;
}

std::optional<int64_t> memory_bytes(const Value& parent, const char* key) {
  auto v = parent.get(key);
  if (!v) return std::nullopt;
  int64_t n = v->i64();
  if (n < -1) v->bad("expected a number of bytes or -1 for unlimited");
  if (n == 0) return std::nullopt;
  return n;
}

std::optional<uint64_t> nonzero_u64(const Value& parent, const char* key) {
  auto v = parent.get(key);
  if (!v) return std::nullopt;
  uint64_t n = v->u64();
  if (n == 0) return std::nullopt;
  return n;
}

DeviceRule device_rule(const Value& v) {
  v.object();
  DeviceRule r;
  auto allow = v.get("allow");
  if (!allow) v.bad("\"allow\" is required");
  r.allow = allow->boolean();
  if (auto t = v.get("type")) {
    std::string s = t->str();
    if (s != "a" && s != "b" && s != "c") t->bad("expected \"a\", \"b\" or \"c\"");
    r.type = s[0];
  }
  for (auto [key, out] : {std::pair{"major", &r.major}, std::pair{"minor", &r.minor}}) {
    if (auto n = v.get(key)) {
      *out = n->i64();
      if (*out < -1 || *out > UINT32_MAX) n->bad("expected a device number or -1 for any");
    }
  }
  if (auto a = v.get("access")) {
    std::string s = a->str();
    std::string seen;
    // Like runc, letters other than r, w and m are ignored rather than refused.
    for (char c : s)
      if ((c == 'r' || c == 'w' || c == 'm') && seen.find(c) == std::string::npos) seen += c;
    // An explicit "" grants nothing; an unset field means everything, like the other fields.
    r.access = seen;
  }
  return r;
}

}  // namespace

Resources parse_resources(const json& j) {
  Resources r;
  if (j.is_null()) return r;
  Value root(j, "linux.resources");
  root.object();

  if (auto mem = root.get("memory")) {
    mem->object();
    r.memory_limit = memory_bytes(*mem, "limit");
    r.memory_reservation = memory_bytes(*mem, "reservation");
    r.memory_swap = memory_bytes(*mem, "swap");
    if (auto v = mem->get("swappiness")) {
      // Docker and some engines send -1 for "leave the default"; take it as unset.
      if (v->i64() != -1) {
        uint64_t n = v->u64();
        if (n > 100) v->bad("expected 0-100");
        r.memory_swappiness = n;
      }
    }
    if (auto v = mem->get("disableOOMKiller")) r.disable_oom_killer = v->boolean();
    r.memory_kernel = memory_bytes(*mem, "kernel");
    r.memory_kernel_tcp = memory_bytes(*mem, "kernelTCP");
    if (auto v = mem->get("checkBeforeUpdate")) r.memory_check_before_update = v->boolean();
    if (auto v = mem->get("useHierarchy")) v->boolean();  // accepted, not applied
  }

  if (auto cpu = root.get("cpu")) {
    cpu->object();
    r.cpu_shares = nonzero_u64(*cpu, "shares");
    if (auto v = cpu->get("quota")) {
      int64_t n = v->i64();
      if (n < 0)
        r.cpu_quota = -1;  // the kernel reads any negative quota as unlimited
      else if (n > 0)
        r.cpu_quota = n;
    }
    r.cpu_period = nonzero_u64(*cpu, "period");
    if (auto v = cpu->get("cpus")) r.cpu_cpus = v->str();
    if (auto v = cpu->get("mems")) r.cpu_mems = v->str();
    if (auto v = cpu->get("realtimeRuntime")) {
      int64_t n = v->i64();
      if (n < -1) v->bad("expected microseconds or -1 for unlimited");
      if (n != 0) r.cpu_rt_runtime = n;
    }
    r.cpu_rt_period = nonzero_u64(*cpu, "realtimePeriod");
    if (auto v = cpu->get("burst")) r.cpu_burst = v->u64();
    if (auto v = cpu->get("idle")) {
      int64_t n = v->i64();
      if (n != 0 && n != 1) v->bad("expected 0 or 1");
      r.cpu_idle = n;
    }
  }

  if (auto pids = root.get("pids")) {
    pids->object();
    if (auto v = pids->get("limit")) r.pids_limit = v->i64();
  }

  if (auto bio = root.get("blockIO")) {
    bio->object();
    if (auto v = bio->get("weight")) {
      uint64_t n = v->u64();
      if (n != 0 && (n < 10 || n > 1000)) v->bad("expected 10-1000");
      if (n != 0) r.blkio_weight = static_cast<uint16_t>(n);
    }
    r.blkio_leaf_weight = blkio_weight_of(*bio, "leafWeight");
    if (auto list = bio->get("weightDevice")) {
      for (size_t i = 0; i < list->array().size(); ++i) {
        Value e = list->at(i);
        e.object();
        WeightDevice w;
        block_device(e, w.major, w.minor);
        w.weight = blkio_weight_of(e, "weight");
        w.leaf_weight = blkio_weight_of(e, "leafWeight");
        r.blkio_weight_device.push_back(w);
      }
    }
    r.throttle_read_bps = throttle_list(*bio, "throttleReadBpsDevice");
    r.throttle_write_bps = throttle_list(*bio, "throttleWriteBpsDevice");
    r.throttle_read_iops = throttle_list(*bio, "throttleReadIOPSDevice");
    r.throttle_write_iops = throttle_list(*bio, "throttleWriteIOPSDevice");
  }

  if (auto huge = root.get("hugepageLimits")) {
    for (size_t i = 0; i < huge->array().size(); ++i) {
      Value e = huge->at(i);
      e.object();
      HugepageLimit h;
      Value size = required(e, "pageSize");
      h.page_size = size.str();
      std::optional<uint64_t> kb = hugepage_size_kb(h.page_size);
      if (!kb) size.bad("expected a size like \"2MB\", \"1GB\" or \"64KB\"");
      for (const HugepageLimit& prev : r.hugepage_limits)
        if (hugepage_size_kb(prev.page_size) == kb) size.bad("page size listed twice");
      h.limit = required(e, "limit").u64();
      r.hugepage_limits.push_back(h);
    }
  }

  if (auto net = root.get("network")) {
    net->object();
    if (auto v = net->get("classID")) {
      uint32_t id = v->u32();
      if (id != 0) r.net_class_id = id;
    }
    if (auto list = net->get("priorities")) {
      for (size_t i = 0; i < list->array().size(); ++i) {
        Value e = list->at(i);
        e.object();
        Value name = required(e, "name");
        std::string iface = name.str();
        if (iface.empty() || iface.size() > 15 ||
            iface.find_first_of(" \t\n/") != std::string::npos)
          name.bad("expected a network interface name");
        r.net_priorities.emplace_back(iface, required(e, "priority").u32());
      }
    }
  }

  if (auto rdma = root.get("rdma")) {
    for (const auto& [dev, val] : rdma->object().items()) {
      Value e(val, "linux.resources.rdma." + dev);
      e.object();
      if (dev.empty() || dev.find_first_of(" \t\n=") != std::string::npos)
        e.bad("the key must be an RDMA device name");
      RdmaLimit l;
      if (auto v = e.get("hcaHandles")) l.hca_handles = v->u32();
      if (auto v = e.get("hcaObjects")) l.hca_objects = v->u32();
      r.rdma[dev] = l;
    }
  }

  if (auto devs = root.get("devices")) {
    const json& a = devs->array();
    r.devices.emplace();
    for (size_t i = 0; i < a.size(); ++i)
      r.devices->push_back(
          device_rule(Value(a[i], "linux.resources.devices[" + std::to_string(i) + "]")));
  }

  if (auto uni = root.get("unified")) {
    for (const auto& [key, val] : uni->object().items()) {
      Value v(val, "linux.resources.unified." + key);
      if (key.empty() || key == "." || key == ".." || key.find('/') != std::string::npos ||
          key.find('\0') != std::string::npos)
        v.bad("the key must be the name of a file in the container's cgroup");
      r.unified[key] = v.str();
    }
  }
  return r;
}

void rethrow_as_config_error(const Error& e) {
  std::string_view msg = e.what();
  std::string_view field = "linux.resources";
  bool names_field = msg.substr(0, field.size()) == field &&
                     (msg.size() == field.size() || msg[field.size()] == '.' ||
                      msg[field.size()] == ':' || msg[field.size()] == '[');
  throw Error(
      fmt::format("{}: {}{}", kResourcesSource, names_field ? "" : "linux.resources: ", msg),
      e.error_code());
}

Error with_resources_source(const Error& e, std::string_view source) {
  std::string_view msg = e.what();
  if (msg.size() <= kResourcesSource.size() ||
      msg.substr(0, kResourcesSource.size()) != kResourcesSource ||
      msg[kResourcesSource.size()] != ':')
    return e;
  return Error(fmt::format("{}{}", source, msg.substr(kResourcesSource.size())), e.error_code());
}

}  // namespace vessel::cgroups
