// Log lines in logrus's forms (what runc writes to stderr and --log), the Go-style JSON text
// of `state`/`list`, and runc's containerState shape.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "oci/spec.h"
#include "oci/state.h"
#include "util/go_json.h"
#include "util/log.h"

namespace vessel {
namespace {

TEST(UtilLog, TextLineIsLogrusTextFormatterWithGoQuoting) {
  EXPECT_EQ(log::format_line(log::Format::text, log::Level::error,
                             "config.json: \"x\"\tbad\\path\n", "2026-01-02T03:04:05Z"),
            R"(time="2026-01-02T03:04:05Z" level=error msg="config.json: \"x\"\tbad\\path\n")");
  // A bare word is not quoted, as logrus does.
  EXPECT_EQ(log::format_line(log::Format::text, log::Level::debug, "ready", "T"),
            "time=T level=debug msg=ready");
  EXPECT_EQ(log::format_line(log::Format::text, log::Level::warning, "a\x01z", "T"),
            R"(time=T level=warning msg="a\x01z")");
}

TEST(UtilLog, JsonLineHasSortedKeysAndGoEscapes) {
  EXPECT_EQ(
      log::format_line(log::Format::json, log::Level::error, "a<b>&\"c\"", "2026-01-02T03:04:05Z"),
      R"({"level":"error","msg":"a\u003cb\u003e\u0026\"c\"","time":"2026-01-02T03:04:05Z"})");
}

TEST(UtilLog, PlainLineIsForPeople) {
  EXPECT_EQ(log::format_line(log::Format::plain, log::Level::warning, "hm", "T"),
            "vessel-runtime: warning: hm");
  EXPECT_EQ(log::format_line(log::Format::plain, log::Level::error, "bad", "T"),
            "vessel-runtime: bad");
}

TEST(UtilLog, TimeIsRfc3339InSeconds) {
  std::regex re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$)");
  EXPECT_TRUE(std::regex_match(log::rfc3339_now(), re)) << log::rfc3339_now();
}

TEST(UtilGoJson, Rfc3339NanoDropsTrailingZeros) {
  EXPECT_EQ(go_rfc3339nano("2026-12-06T07:53:52.244852770Z"), "2026-12-06T07:53:52.24485277Z");
  EXPECT_EQ(go_rfc3339nano("2026-12-06T07:53:52.000000000Z"), "2026-12-06T07:53:52Z");
  EXPECT_EQ(go_rfc3339nano("2026-12-06T07:53:52.123456789Z"), "2026-12-06T07:53:52.123456789Z");
  EXPECT_EQ(go_rfc3339nano("2026-12-06T07:53:52Z"), "2026-12-06T07:53:52Z");
}

TEST(UtilGoJson, IndentedLikeMarshalIndentWithHtmlEscapes) {
  nlohmann::ordered_json j;
  j["b"] = "<&>";
  j["a"] = nlohmann::ordered_json::object();
  EXPECT_EQ(go_json_text(j, 2), "{\n  \"b\": \"\\u003c\\u0026\\u003e\",\n  \"a\": {}\n}");
  EXPECT_EQ(go_json_text(j), R"({"b":"\u003c\u0026\u003e","a":{}})");
}

oci::ContainerState sample(const std::string& status, pid_t pid) {
  oci::ContainerState c;
  c.state.oci_version = oci::kSpecVersion;
  c.state.id = "c1";
  c.state.status = status;
  c.state.pid = pid;
  c.state.bundle = "/b";
  c.rootfs = "/b/rootfs";
  c.created = "2026-12-06T07:53:52.100000000Z";
  c.owner = "root";
  return c;
}

TEST(OciContainerState, RuncsFieldsInRuncsOrder) {
  oci::ContainerState c = sample("running", 42);
  c.state.annotations = {{"k", "v"}};
  EXPECT_EQ(go_json_text(oci::container_state_json(c)),
            std::string(R"({"ociVersion":")") + oci::kSpecVersion +
                R"(","id":"c1","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs",)"
                R"("created":"2026-12-06T07:53:52.1Z","annotations":{"k":"v"},"owner":"root"})");
}

TEST(OciContainerState, StoppedHasPidZeroAndNoAnnotationsKeyWhenNone) {
  nlohmann::ordered_json j = oci::container_state_json(sample("stopped", 42));
  EXPECT_EQ(j["pid"], 0);
  EXPECT_FALSE(j.contains("annotations"));
  EXPECT_EQ(j.size(), 8u);
}

// open_on_first_write (the manager's monitor.log): no file until a line is written, then the
// line is in it.
TEST(UtilLog, OpenOnFirstWriteMakesTheFileOnlyForALine) {
  char t[] = "/tmp/vessel-log-unit-XXXXXX";
  ASSERT_NE(::mkdtemp(t), nullptr);
  std::string path = std::string(t) + "/monitor.log";
  log::configure(path, log::Format::text, false, true);
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "made before any line";
  EXPECT_FALSE(log::logs_to_stderr());
  log::debug("not written: debug is off");
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "made for a line that is not written";
  log::error("the first line");
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_NE(text.str().find("the first line"), std::string::npos) << text.str();
  ::unlink(path.c_str());
  ::rmdir(t);
}

}  // namespace
}  // namespace vessel
