// config.json: parsing and the typed checks of oci::parse_spec (JSON-path errors).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "oci/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean_errors([&] {
    vessel::oci::Spec spec = vessel::oci::parse_spec(text);
    (void)spec.has_namespace(vessel::oci::NamespaceType::mount);
  });
  return 0;
}
