#include "cgroups/libsystemd.h"

#if VESSEL_HAVE_SYSTEMD
#include <dlfcn.h>

#include <mutex>
#include <optional>

#include "util/error.h"

namespace vessel::cgroups {

LibSystemd load_libsystemd(const char* soname) {
  // RTLD_LOCAL: nothing else in the process should bind to its symbols by accident. Never
  // dlclosed: sd-bus objects may outlive any one caller, and the library is loaded once.
  void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    fail(
        "--systemd-cgroup: cannot load {} (the systemd cgroup driver needs libsystemd; install "
        "the libsystemd0 package): {}",
        soname, why ? why : "unknown dlopen error");
  }
  LibSystemd lib;
  auto resolve = [&](auto& slot, const char* name) {
    ::dlerror();
    void* sym = ::dlsym(handle, name);
    if (!sym) {
      const char* why = ::dlerror();
      fail("--systemd-cgroup: {} has no function {} (libsystemd too old?): {}", soname, name,
           why ? why : "null symbol");
    }
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(sym);
  };
#define VESSEL_SD_BUS_RESOLVE(name) resolve(lib.name, #name);
  VESSEL_SD_BUS_FUNCTIONS(VESSEL_SD_BUS_RESOLVE)
#undef VESSEL_SD_BUS_RESOLVE
  return lib;
}

const LibSystemd& libsystemd() {
  static std::mutex mu;
  static std::optional<LibSystemd> loaded;
  std::lock_guard lock(mu);
  if (!loaded) loaded = load_libsystemd(kLibSystemdSoname);
  return *loaded;
}

}  // namespace vessel::cgroups

#endif
