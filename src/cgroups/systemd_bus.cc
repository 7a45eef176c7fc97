#include "cgroups/systemd_bus.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/error.h"
#include "util/log.h"

#if VESSEL_HAVE_SYSTEMD
#include "cgroups/libsystemd.h"

namespace vessel::cgroups {
namespace {

// libsystemd, loaded on first use (cgroups/libsystemd.h); every sd-bus call goes through it.
const LibSystemd& sd() { return libsystemd(); }

constexpr const char* kPrivateSocket = "/run/systemd/private";
constexpr const char* kService = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManagerInterface = "org.freedesktop.systemd1.Manager";
constexpr uint64_t kCallTimeoutUsec = 30ULL * 1000 * 1000;

struct MessageDeleter {
  void operator()(sd_bus_message* m) const { sd().sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageDeleter>;

// An sd_bus_error that frees itself.
struct BusError {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  BusError() = default;
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  ~BusError() { sd().sd_bus_error_free(&error); }
  bool has_name(const char* name) const { return sd().sd_bus_error_has_name(&error, name); }
  // systemd's own text when it sent one, else the errno text of `r`.
  std::string text(int r) const {
    if (error.message) return error.message;
    if (error.name) return error.name;
    return std::strerror(-r);
  }
};

// Throws "<what>: <strerror>" for a negative sd-bus return value.
void check(int r, const std::string& what) {
  if (r < 0) throw Error(what + ": " + std::strerror(-r), -r);
}

void append_property(sd_bus_message* m, const UnitProperty& p) {
  const std::string what = "D-Bus message: property " + p.name;
  check(sd().sd_bus_message_open_container(m, 'r', "sv"), what);
  check(sd().sd_bus_message_append_basic(m, 's', p.name.c_str()), what);
  if (const bool* b = std::get_if<bool>(&p.value)) {
    int v = *b ? 1 : 0;  // sd-bus takes booleans as int
    check(sd().sd_bus_message_open_container(m, 'v', "b"), what);
    check(sd().sd_bus_message_append_basic(m, 'b', &v), what);
  } else if (const uint64_t* t = std::get_if<uint64_t>(&p.value)) {
    check(sd().sd_bus_message_open_container(m, 'v', "t"), what);
    check(sd().sd_bus_message_append_basic(m, 't', t), what);
  } else if (const std::string* s = std::get_if<std::string>(&p.value)) {
    check(sd().sd_bus_message_open_container(m, 'v', "s"), what);
    check(sd().sd_bus_message_append_basic(m, 's', s->c_str()), what);
  } else if (const auto* bytes = std::get_if<std::vector<uint8_t>>(&p.value)) {
    check(sd().sd_bus_message_open_container(m, 'v', "ay"), what);
    check(sd().sd_bus_message_append_array(m, 'y', bytes->data(), bytes->size()), what);
  } else if (const auto* u32s = std::get_if<std::vector<uint32_t>>(&p.value)) {
    check(sd().sd_bus_message_open_container(m, 'v', "au"), what);
    check(sd().sd_bus_message_append_array(m, 'u', u32s->data(), u32s->size() * sizeof(uint32_t)),
          what);
  }
  check(sd().sd_bus_message_close_container(m), what);  // v
  check(sd().sd_bus_message_close_container(m), what);  // r
}

void append_properties(sd_bus_message* m, const std::vector<UnitProperty>& properties) {
  check(sd().sd_bus_message_open_container(m, 'a', "(sv)"), "D-Bus message: properties");
  for (const UnitProperty& p : properties) append_property(m, p);
  check(sd().sd_bus_message_close_container(m), "D-Bus message: properties");
}

MessagePtr new_manager_call(sd_bus* bus, const char* method) {
  sd_bus_message* raw = nullptr;
  check(sd().sd_bus_message_new_method_call(bus, &raw, kService, kManagerPath, kManagerInterface,
                                            method),
        std::string("D-Bus message for ") + method);
  return MessagePtr(raw);
}

// JobRemoved(u id, o job, s unit, s result): remembers (job, result) for wait_for_job().
int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* finished = static_cast<std::vector<std::pair<std::string, std::string>>*>(userdata);
  uint32_t id = 0;
  const char* job = nullptr;
  const char* unit = nullptr;
  const char* result = nullptr;
  if (sd().sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) >= 0)
    finished->emplace_back(job, result);
  return 0;
}

}  // namespace

void SystemdBus::Deleter::operator()(sd_bus* b) const { sd().sd_bus_flush_close_unref(b); }
void SystemdBus::SlotDeleter::operator()(sd_bus_slot* s) const { sd().sd_bus_slot_unref(s); }

SystemdBus::SystemdBus(SystemdBus&&) noexcept = default;
SystemdBus& SystemdBus::operator=(SystemdBus&&) noexcept = default;
SystemdBus::~SystemdBus() {
  // The slot refers to the bus: drop it first.
  job_removed_slot_.reset();
}

SystemdBus SystemdBus::connect() {
  sd();  // a missing libsystemd is the first thing to say
  SystemdBus out;
  out.finished_jobs_ = std::make_unique<std::vector<std::pair<std::string, std::string>>>();
  std::string private_error;
  if (::geteuid() == 0) {
    // systemd as init always listens there; without it, no system bus can reach a systemd.
    if (::access(kPrivateSocket, F_OK) != 0 && errno == ENOENT)
      fail("--systemd-cgroup: systemd is not running as init (no {})", kPrivateSocket);
    sd_bus* raw = nullptr;
    check(sd().sd_bus_new(&raw), "--systemd-cgroup: sd_bus_new");
    std::unique_ptr<sd_bus, Deleter> bus(raw);
    check(sd().sd_bus_set_address(raw, fmt::format("unix:path={}", kPrivateSocket).c_str()),
          "--systemd-cgroup: sd_bus_set_address");
    int r = sd().sd_bus_start(raw);
    if (r >= 0) {
      out.bus_ = std::move(bus);
      out.address_ = kPrivateSocket;
    } else {
      private_error = fmt::format("{}: {}", kPrivateSocket, std::strerror(-r));
      log::debug("--systemd-cgroup: " + private_error + "; trying the system bus");
    }
  }
  if (!out.bus_) {
    sd_bus* raw = nullptr;
    int r = sd().sd_bus_open_system(&raw);
    if (r < 0)
      fail("--systemd-cgroup: cannot reach systemd: {}{}system bus: {}", private_error,
           private_error.empty() ? "" : "; ", std::strerror(-r));
    out.bus_.reset(raw);
    out.address_ = "the system bus";
  }
  // Matched before any job is started, so that no JobRemoved can be missed. No sender: on the
  // private socket (a direct connection) messages carry none.
  sd_bus_slot* slot = nullptr;
  check(sd().sd_bus_match_signal(out.bus_.get(), &slot, nullptr, kManagerPath, kManagerInterface,
                                 "JobRemoved", on_job_removed, out.finished_jobs_.get()),
        "--systemd-cgroup: match JobRemoved");
  out.job_removed_slot_.reset(slot);
  // On the system bus systemd only sends signals to subscribers (the private socket gets all).
  if (out.address_ != kPrivateSocket) {
    BusError error;
    int r = sd().sd_bus_call_method(out.bus_.get(), kService, kManagerPath, kManagerInterface,
                                    "Subscribe", &error.error, nullptr, "");
    if (r < 0)
      fail("--systemd-cgroup: systemd on {} does not answer: {}", out.address_, error.text(r));
  }
  return out;
}

std::string SystemdBus::wait_for_job(const std::string& job, const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + kJobTimeout;
  for (;;) {
    for (const auto& [path, result] : *finished_jobs_)
      if (path == job) return result;
    int r = sd().sd_bus_process(bus_.get(), nullptr);
    if (r < 0) check(r, fmt::format("{}: wait for systemd job {}", what, job));
    if (r > 0) continue;  // more may be queued
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      fail("{}: systemd job {} did not finish within {} s", what, job, kJobTimeout.count());
    r = sd().sd_bus_wait(bus_.get(), static_cast<uint64_t>(left.count()));
    if (r < 0 && r != -EINTR) check(r, fmt::format("{}: wait for systemd job {}", what, job));
  }
}

void SystemdBus::start_transient_unit(const std::string& name,
                                      const std::vector<UnitProperty>& properties) {
  const std::string what = fmt::format("--systemd-cgroup: start unit {}", name);
  MessagePtr call = new_manager_call(bus_.get(), "StartTransientUnit");
  check(sd().sd_bus_message_append(call.get(), "ss", name.c_str(), "replace"), what);
  append_properties(call.get(), properties);
  check(sd().sd_bus_message_append(call.get(), "a(sa(sv))", 0), what);  // no auxiliary units
  BusError error;
  sd_bus_message* raw_reply = nullptr;
  int r = sd().sd_bus_call(bus_.get(), call.get(), kCallTimeoutUsec, &error.error, &raw_reply);
  MessagePtr reply(raw_reply);
  if (r < 0) fail("{}: {}", what, error.text(r));
  const char* job = nullptr;
  check(sd().sd_bus_message_read(reply.get(), "o", &job), what + ": read the job");
  std::string job_path = job;
  std::string result = wait_for_job(job_path, what);
  if (result != "done")
    fail("{}: the systemd job ended with \"{}\" (systemctl status {} may say why)", what, result,
         name);
}

void SystemdBus::set_unit_properties(const std::string& name,
                                     const std::vector<UnitProperty>& properties) {
  const std::string what = fmt::format("--systemd-cgroup: set properties of unit {}", name);
  MessagePtr call = new_manager_call(bus_.get(), "SetUnitProperties");
  int runtime = 1;  // not persisted: the unit is transient anyway
  check(sd().sd_bus_message_append(call.get(), "sb", name.c_str(), runtime), what);
  append_properties(call.get(), properties);
  BusError error;
  sd_bus_message* raw_reply = nullptr;
  int r = sd().sd_bus_call(bus_.get(), call.get(), kCallTimeoutUsec, &error.error, &raw_reply);
  MessagePtr reply(raw_reply);
  if (r < 0) fail("{}: {}", what, error.text(r));
}

bool SystemdBus::stop_unit(const std::string& name) {
  const std::string what = fmt::format("--systemd-cgroup: stop unit {}", name);
  BusError error;
  sd_bus_message* raw_reply = nullptr;
  int r = sd().sd_bus_call_method(bus_.get(), kService, kManagerPath, kManagerInterface, "StopUnit",
                                  &error.error, &raw_reply, "ss", name.c_str(), "replace");
  MessagePtr reply(raw_reply);
  if (r < 0) {
    if (error.has_name("org.freedesktop.systemd1.NoSuchUnit")) return false;
    fail("{}: {}", what, error.text(r));
  }
  const char* job = nullptr;
  check(sd().sd_bus_message_read(reply.get(), "o", &job), what + ": read the job");
  std::string job_path = job;
  std::string result = wait_for_job(job_path, what);
  if (result != "done") fail("{}: the systemd job ended with \"{}\"", what, result);
  return true;
}

std::string SystemdBus::control_group(const std::string& name, bool is_slice) {
  const std::string what = fmt::format("--systemd-cgroup: the cgroup of unit {}", name);
  BusError error;
  sd_bus_message* raw_reply = nullptr;
  int r = sd().sd_bus_call_method(bus_.get(), kService, kManagerPath, kManagerInterface, "GetUnit",
                                  &error.error, &raw_reply, "s", name.c_str());
  MessagePtr reply(raw_reply);
  if (r < 0) fail("{}: {}", what, error.text(r));
  const char* object = nullptr;
  check(sd().sd_bus_message_read(reply.get(), "o", &object), what);
  BusError property_error;
  char* raw_value = nullptr;
  r = sd().sd_bus_get_property_string(
      bus_.get(), kService, object,
      is_slice ? "org.freedesktop.systemd1.Slice" : "org.freedesktop.systemd1.Scope",
      "ControlGroup", &property_error.error, &raw_value);
  if (r < 0) fail("{}: {}", what, property_error.text(r));
  std::unique_ptr<char, decltype(&::free)> value(raw_value, &::free);
  return value ? std::string(value.get()) : std::string();
}

}  // namespace vessel::cgroups

#else  // built without libsystemd: every use is a clear error, nothing half-works

namespace vessel::cgroups {

void SystemdBus::Deleter::operator()(sd_bus*) const {}
void SystemdBus::SlotDeleter::operator()(sd_bus_slot*) const {}
SystemdBus::SystemdBus(SystemdBus&&) noexcept = default;
SystemdBus& SystemdBus::operator=(SystemdBus&&) noexcept = default;
SystemdBus::~SystemdBus() = default;

SystemdBus SystemdBus::connect() {
  fail("--systemd-cgroup: this vessel-runtime was built without libsystemd (VESSEL_SYSTEMD=OFF)");
}
void SystemdBus::start_transient_unit(const std::string&, const std::vector<UnitProperty>&) {}
void SystemdBus::set_unit_properties(const std::string&, const std::vector<UnitProperty>&) {}
bool SystemdBus::stop_unit(const std::string&) { return false; }
std::string SystemdBus::control_group(const std::string&, bool) { return {}; }
std::string SystemdBus::wait_for_job(const std::string&, const std::string&) { return {}; }

}  // namespace vessel::cgroups

#endif
