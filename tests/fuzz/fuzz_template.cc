// The Go-template --format parser (util/go_template): the input is a --format value, optionally
// followed by a line "\x00" and a JSON document to render it on (else a fixed container-like
// record). Parsing, rendering, header mode, table mode and the column writer may only end in
// vessel::Error; a render's output is bounded (a template cannot ask for gigabytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_util.h"
#include "util/go_template.h"

namespace {

const nlohmann::json& sample() {
  static const nlohmann::json j = nlohmann::json::parse(R"({
    "Id": "0123456789abcdef", "Names": ["web", "db"], "Image": "busybox:latest",
    "State": {"Status": "running", "Pid": 42, "ExitCode": 0, "Running": true},
    "Labels": {"a": "1", "b": "two"}, "Ports": [], "Size": 1.5, "Mounts": null,
    "Nested": {"List": [[1, 2], [3]], "Map": {"k": {"v": "deep"}}}
  })");
  return j;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::string format = input;
  nlohmann::json dot = sample();
  if (size_t nul = input.find('\0'); nul != std::string::npos) {
    format = input.substr(0, nul);
    dot = nlohmann::json::parse(input.substr(nul + 1), nullptr, false);
    if (dot.is_discarded()) dot = sample();
  }
  fuzz::expect_clean_errors([&] {
    vessel::GoTemplate t(format);
    fuzz::expect_clean_errors([&] { (void)t.render(dot); });
    fuzz::expect_clean_errors([&] {
      (void)t.render_header(nlohmann::json{{"Id", "CONTAINER ID"}, {"Names", "NAMES"}});
    });
  });
  fuzz::expect_clean_errors([&] {
    vessel::FormatSpec spec = vessel::parse_format(format);
    nlohmann::json rows = nlohmann::json::array({dot, sample()});
    (void)vessel::format_rows(spec, rows, nlohmann::json{{"Id", "CONTAINER ID"}});
  });
  (void)vessel::tabwrite(format);
  return 0;
}
