// Detach keys (docker's key syntax, the scanner that watches a terminal's input) and CDI specs
// (JSON and YAML, spec- and device-level edits, =all, errors) on config.json documents.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "manager/cdi.h"
#include "util/detach_keys.h"
#include "util/error.h"
#include "util/file.h"

namespace vessel::manager {
namespace {

using nlohmann::json;

TEST(DetachKeys, ParsesDockersSyntax) {
  EXPECT_EQ(parse_detach_keys("ctrl-p,ctrl-q"), "\x10\x11");
  EXPECT_EQ(parse_detach_keys("a,ctrl-@,ctrl-[,ctrl-_,Q"), std::string("a\0\x1b\x1fQ", 5));
  EXPECT_EQ(parse_detach_keys(""), "");
  for (const char* bad : {"ctrl-", "ctrl-1", "ab", "ctrl-p,", ",", "shift-a"})
    EXPECT_THROW(parse_detach_keys(bad), Error) << bad;
}

std::string feed(DetachScanner& s, const std::string& in, bool* detached) {
  std::string out;
  *detached = s.feed(in.data(), in.size(), out);
  return out;
}

TEST(DetachKeys, ScannerHoldsAPrefixAndPassesItOnWhenTheSequenceBreaks) {
  DetachScanner s("\x10\x11");
  bool d = false;
  EXPECT_EQ(feed(s, "ab\x10", &d), "ab");  // ctrl-p held back
  EXPECT_FALSE(d);
  EXPECT_EQ(feed(s, "x", &d), "\x10x");  // broken off: both go through
  EXPECT_FALSE(d);
  EXPECT_EQ(feed(s, "\x10\x10", &d), "\x10");  // the second ctrl-p may start the sequence
  EXPECT_EQ(feed(s, "\x11tail", &d), "");
  EXPECT_TRUE(d);
  DetachScanner none("");
  EXPECT_EQ(feed(none, "\x10\x11", &d), "\x10\x11");
  EXPECT_FALSE(d);
  DetachScanner one("\x01");
  EXPECT_EQ(feed(one, "ab\x01", &d), "ab");
  EXPECT_TRUE(d);
}

class CdiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vessel-cdi-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { remove_tree(dir_); }
  std::string dir_;
};

TEST_F(CdiTest, NamesAreRecognised) {
  EXPECT_TRUE(is_cdi_device_name("nvidia.com/gpu=all"));
  EXPECT_TRUE(is_cdi_device_name("vendor.example.com/class=dev-0"));
  EXPECT_FALSE(is_cdi_device_name("/dev/null"));
  EXPECT_FALSE(is_cdi_device_name("/dev/a=b/c"));
  EXPECT_FALSE(is_cdi_device_name("vendor/class=name"));  // the vendor is a domain
  EXPECT_FALSE(is_cdi_device_name("vendor.com/class"));
}

TEST_F(CdiTest, YamlAndJsonEditsApplyOnceForTheSpecAndPerDevice) {
  write_file_atomic(
      dir_ + "/a.yaml",
      "cdiVersion: \"0.6.0\"\n"
      "kind: vessel.test/dev\n"
      "containerEdits:\n"
      "  env: [SPEC=1]\n"
      "devices:\n"
      "  - name: zero\n"
      "    containerEdits:\n"
      "      env: [\"FOO=bar\", \"PATH=/cdi\"]\n"
      "      deviceNodes:\n"
      "        - path: /dev/cdi-zero\n"
      "          hostPath: /dev/zero\n"
      "          permissions: rw\n"
      "      mounts:\n"
      "        - hostPath: /tmp\n"
      "          containerPath: /cdi-tmp\n"
      "          options: [ro]\n"
      "      hooks:\n"
      "        - hookName: createRuntime\n"
      "          path: /bin/true\n"
      "          args: [true, x]\n"
      "          timeout: 5\n"
      "  - name: nulldev\n"
      "    containerEdits:\n"
      "      deviceNodes: [{path: /dev/cdi-null, type: c, major: 1, minor: 3, fileMode: 0o640}]\n");
  write_file_atomic(dir_ + "/b.json",
                    R"({"cdiVersion":"0.5.0","kind":"vessel.test/other","devices":[)"
                    R"({"name":"x","containerEdits":{"env":["X=1"]}},)"
                    R"({"name":"y","containerEdits":{"env":["Y=1"]}}]})");
  json spec = {{"process", {{"env", {"PATH=/usr/bin"}}}},
               {"linux", {{"devices", json::array()}}},
               {"mounts", json::array()}};
  apply_cdi_devices(
      spec, {"vessel.test/dev=zero", "vessel.test/dev=nulldev", "vessel.test/other=all"}, {dir_});
  EXPECT_EQ(spec["process"]["env"], json({"PATH=/cdi", "SPEC=1", "FOO=bar", "X=1", "Y=1"}));
  ASSERT_EQ(spec["linux"]["devices"].size(), 2u) << spec.dump();
  EXPECT_EQ(spec["linux"]["devices"][0]["path"], "/dev/cdi-zero");
  EXPECT_EQ(spec["linux"]["devices"][0]["type"], "c");
  EXPECT_EQ(spec["linux"]["devices"][0]["major"], 1);
  EXPECT_EQ(spec["linux"]["devices"][0]["minor"], 5);
  EXPECT_EQ(spec["linux"]["devices"][1]["minor"], 3);
  EXPECT_EQ(spec["linux"]["devices"][1]["fileMode"], 0640);
  EXPECT_EQ(spec["linux"]["resources"]["devices"][0]["access"], "rw");
  EXPECT_EQ(spec["linux"]["resources"]["devices"][1]["access"], "rwm");
  ASSERT_EQ(spec["mounts"].size(), 1u);
  EXPECT_EQ(spec["mounts"][0], json({{"destination", "/cdi-tmp"},
                                     {"type", "bind"},
                                     {"source", "/tmp"},
                                     {"options", {"rbind", "ro"}}}));
  ASSERT_EQ(spec["hooks"]["createRuntime"].size(), 1u);
  EXPECT_EQ(spec["hooks"]["createRuntime"][0],
            json({{"path", "/bin/true"}, {"args", {"true", "x"}}, {"timeout", 5}}));
}

TEST_F(CdiTest, UnknownDevicesAndBrokenSpecsAreErrors) {
  json spec = json::object();
  try {
    apply_cdi_devices(spec, {"vessel.test/dev=nope"}, {dir_});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown CDI device \"vessel.test/dev=nope\""),
              std::string::npos)
        << e.what();
  }
  write_file_atomic(dir_ + "/bad.json", "{not json");
  try {
    apply_cdi_devices(spec, {"vessel.test/dev=nope"}, {dir_});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: not valid JSON"), std::string::npos)
        << e.what();
  }
  write_file_atomic(dir_ + "/bad.json",
                    R"({"cdiVersion":"0.6.0","kind":"v.test/d","devices":[{"name":"n",)"
                    R"("containerEdits":{"deviceNodes":[{"path":"relative"}]}}]})");
  EXPECT_THROW(apply_cdi_devices(spec, {"v.test/d=n"}, {dir_}), Error);
}

}  // namespace
}  // namespace vessel::manager
