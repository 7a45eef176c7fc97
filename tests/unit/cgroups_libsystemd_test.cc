// libsystemd is dlopened by the systemd cgroup driver (cgroups/libsystemd.h): a missing
// library or function is one clear error, and a real libsystemd fills every entry.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "cgroups/libsystemd.h"
#include "error_of.h"

#if VESSEL_HAVE_SYSTEMD
namespace vessel::cgroups {
namespace {

TEST(LibSystemd, MissingLibraryIsOneClearError) {
  std::string err = error_of([] { load_libsystemd("libvessel-test-no-such-library.so.0"); });
  EXPECT_NE(err.find("--systemd-cgroup: cannot load libvessel-test-no-such-library.so.0"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("libsystemd0"), std::string::npos) << err;
}

TEST(LibSystemd, LibraryWithoutSdBusIsOneClearError) {
  std::string err = error_of([] { load_libsystemd("libc.so.6"); });
  EXPECT_NE(err.find("--systemd-cgroup: libc.so.6 has no function sd_bus_new"), std::string::npos)
      << err;
}

TEST(LibSystemd, RealLibraryFillsEveryEntry) {
  void* probe = ::dlopen(kLibSystemdSoname, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (!probe) probe = ::dlopen(kLibSystemdSoname, RTLD_NOW | RTLD_LOCAL);
  if (!probe) GTEST_SKIP() << "no " << kLibSystemdSoname << " on this host";
  const LibSystemd& lib = libsystemd();
#define VESSEL_EXPECT_LOADED(name) EXPECT_NE(lib.name, nullptr) << #name;
  VESSEL_SD_BUS_FUNCTIONS(VESSEL_EXPECT_LOADED)
#undef VESSEL_EXPECT_LOADED
  EXPECT_EQ(&libsystemd(), &lib) << "loaded once";
}

}  // namespace
}  // namespace vessel::cgroups
#endif
