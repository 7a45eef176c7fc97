// libsystemd's sd-bus, loaded with dlopen on first use. Only --systemd-cgroup talks to systemd,
// so no program links libsystemd: a plain `vessel-runtime run` would otherwise map it and its
// compression and crypto libraries (libgcrypt, liblz4, libzstd, liblzma) on every start.
#pragma once

#if VESSEL_HAVE_SYSTEMD
#include <systemd/sd-bus.h>

namespace vessel::cgroups {

// The sd-bus entry points the systemd driver calls. Each member has the type of the function
// it is named after, so calls read as they would against the linked library.
struct LibSystemd {
// clang-format off
#define VESSEL_SD_BUS_FUNCTIONS(X) \
  X(sd_bus_new) \
  X(sd_bus_set_address) \
  X(sd_bus_start) \
  X(sd_bus_open_system) \
  X(sd_bus_flush_close_unref) \
  X(sd_bus_slot_unref) \
  X(sd_bus_match_signal) \
  X(sd_bus_process) \
  X(sd_bus_wait) \
  X(sd_bus_call) \
  X(sd_bus_call_method) \
  X(sd_bus_get_property_string) \
  X(sd_bus_message_new_method_call) \
  X(sd_bus_message_unref) \
  X(sd_bus_message_append) \
  X(sd_bus_message_append_basic) \
  X(sd_bus_message_append_array) \
  X(sd_bus_message_open_container) \
  X(sd_bus_message_close_container) \
  X(sd_bus_message_read) \
  X(sd_bus_error_free) \
  X(sd_bus_error_has_name)
// clang-format on
#define VESSEL_SD_BUS_MEMBER(name) decltype(&::name) name = nullptr;
  VESSEL_SD_BUS_FUNCTIONS(VESSEL_SD_BUS_MEMBER)
#undef VESSEL_SD_BUS_MEMBER
};

// The process-wide table, loaded from kLibSystemdSoname on the first call (thread-safe).
// Throws vessel::Error ("--systemd-cgroup: cannot load libsystemd.so.0 ...") when the library
// or one of its functions is missing; a later call tries again.
const LibSystemd& libsystemd();

// Loads the table from `soname` (a fresh dlopen; for tests and for libsystemd()). The library
// stays loaded for the life of the process.
LibSystemd load_libsystemd(const char* soname);

inline constexpr const char* kLibSystemdSoname = "libsystemd.so.0";

}  // namespace vessel::cgroups

#endif
