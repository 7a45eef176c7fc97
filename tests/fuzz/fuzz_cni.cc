// CNI results as plugins print them: the address lookup of a result's container interface.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_util.h"
#include "network/cni.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json result =
      nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (result.is_discarded()) return 0;
  fuzz::expect_clean_errors([&] {
    (void)vessel::network::first_container_address(result, "eth0");
    (void)vessel::network::first_container_address(result, "");
  });
  return 0;
}
