// Image references: parse, and a normalized reference parses back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_util.h"
#include "image/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean_errors([&] {
    vessel::image::Reference r = vessel::image::parse_reference(text);
    vessel::image::Reference again = vessel::image::parse_reference(r.str());
    if (again.str() != r.str() || again.registry != r.registry ||
        again.repository != r.repository || again.tag != r.tag || again.digest != r.digest) {
      std::fprintf(stderr, "fuzz: %s normalizes to %s, which normalizes to %s\n", text.c_str(),
                   r.str().c_str(), again.str().c_str());
      std::abort();
    }
    (void)r.api_host();
    (void)r.stored_name();
    (void)r.manifest_ref();
  });
  return 0;
}
