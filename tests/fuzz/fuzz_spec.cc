// config.json: parsing, the typed checks of oci::parse_spec, and the checks create makes
// before anything exists (sysctls, seccomp, LSM labels).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "linux/lsm.h"
#include "linux/rootfs.h"
#include "linux/seccomp.h"
#include "oci/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean_errors([&] {
    vessel::oci::Spec spec = vessel::oci::parse_spec(text);
    vessel::linux::validate_sysctls(spec);
    if (!spec.linux.seccomp.is_null()) vessel::linux::validate_seccomp(spec.linux.seccomp);
    if (spec.process)
      vessel::linux::validate_lsm_labels("process", spec.process->apparmor_profile,
                                         spec.process->selinux_label);
  });
  return 0;
}
