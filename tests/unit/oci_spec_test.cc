#include <gtest/gtest.h>

#include <string>

#include "oci/spec.h"
#include "util/error.h"

namespace vessel::oci {
namespace {

using nlohmann::json;

// The text of the error parse_spec throws, or "" when it accepts the document.
std::string parse_error(const json& doc) {
  try {
    parse_spec(doc.dump());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_rejected(const json& doc, const std::string& path, const std::string& value) {
  std::string err = parse_error(doc);
  ASSERT_FALSE(err.empty()) << "accepted: " << doc.dump();
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find(value), std::string::npos) << err;
}

TEST(OciSpec, AcceptsDefaultSpec) {
  Spec s = parse_spec(default_spec(false).dump(2));
  EXPECT_EQ(s.oci_version, kSpecVersion);
  ASSERT_TRUE(s.process.has_value());
  EXPECT_TRUE(s.process->terminal);
  EXPECT_EQ(s.process->args, std::vector<std::string>{"sh"});
  EXPECT_EQ(s.process->cwd, "/");
  EXPECT_TRUE(s.process->no_new_privileges);
  ASSERT_EQ(s.process->rlimits.size(), 1u);
  EXPECT_EQ(s.process->rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(s.process->rlimits[0].soft, 1024u);
  EXPECT_EQ(s.process->capabilities.bounding.size(), 3u);
  EXPECT_EQ(s.root.path, "rootfs");
  EXPECT_TRUE(s.root.readonly);
  EXPECT_EQ(s.hostname, "vessel");
  EXPECT_EQ(s.mounts.size(), 7u);
  EXPECT_TRUE(s.has_namespace(NamespaceType::network));
  EXPECT_TRUE(s.has_namespace(NamespaceType::cgroup));
  EXPECT_FALSE(s.has_namespace(NamespaceType::user));
  EXPECT_EQ(s.linux.masked_paths.size(), 11u);
  EXPECT_EQ(s.linux.readonly_paths.size(), 5u);
  ASSERT_TRUE(s.linux.resources.contains("devices"));
  EXPECT_EQ(s.linux.resources["devices"][0]["access"], "rwm");
}

TEST(OciSpec, AcceptsRootlessDefaultSpec) {
  Spec s = parse_spec(default_spec(true).dump());
  EXPECT_TRUE(s.has_namespace(NamespaceType::user));
  EXPECT_FALSE(s.has_namespace(NamespaceType::network));
  ASSERT_EQ(s.linux.uid_mappings.size(), 1u);
  EXPECT_EQ(s.linux.uid_mappings[0].container_id, 0u);
  EXPECT_EQ(s.linux.uid_mappings[0].host_id, geteuid());
  EXPECT_EQ(s.linux.uid_mappings[0].size, 1u);
  ASSERT_EQ(s.linux.gid_mappings.size(), 1u);
  EXPECT_EQ(s.linux.gid_mappings[0].host_id, getegid());
  EXPECT_TRUE(s.linux.resources.is_null());
  for (const auto& m : s.mounts) {
    EXPECT_NE(m.type, "cgroup") << m.destination;
    for (const auto& o : m.options) EXPECT_NE(o, "gid=5") << m.destination;
    if (m.destination == "/sys") {
      EXPECT_EQ(m.source, "/sys");
      EXPECT_EQ(m.options, (std::vector<std::string>{"rbind", "nosuid", "noexec", "nodev", "ro"}));
    }
  }
}

TEST(OciSpec, AcceptsSupportedVersions) {
  for (const char* v : {"1.0.0", "1.0.2", "1.1.0", "1.2.0", "1.3.0"}) {
    json doc = default_spec(false);
    doc["ociVersion"] = v;
    EXPECT_EQ(parse_error(doc), "") << v;
  }
}

TEST(OciSpec, RejectsUnsupportedVersions) {
  for (const char* v : {"2.0.0", "abc", "1.4.0", "0.9.0"}) {
    json doc = default_spec(false);
    doc["ociVersion"] = v;
    expect_rejected(doc, "ociVersion", v);
  }
  json doc = default_spec(false);
  doc.erase("ociVersion");
  expect_rejected(doc, "ociVersion", "missing");
}

TEST(OciSpec, RejectsInvalidJson) {
  for (const char* text : {"{", "", "{\"ociVersion\": }", "[1, 2]"}) {
    try {
      parse_spec(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    }
  }
}

TEST(OciSpec, RejectsUnknownNamespaceType) {
  json doc = default_spec(false);
  doc["linux"]["namespaces"][1]["type"] = "bogusns";
  expect_rejected(doc, "linux.namespaces[1].type", "bogusns");
}

TEST(OciSpec, RejectsDuplicateNamespace) {
  json doc = default_spec(false);
  doc["linux"]["namespaces"].push_back({{"type", "pid"}});
  expect_rejected(doc, "linux.namespaces[6].type", "pid");
}

TEST(OciSpec, RejectsRelativeNamespacePath) {
  json doc = default_spec(false);
  doc["linux"]["namespaces"][1]["path"] = "proc/1/ns/net";
  expect_rejected(doc, "linux.namespaces[1].path", "proc/1/ns/net");
}

TEST(OciSpec, RejectsRelativeCwd) {
  json doc = default_spec(false);
  doc["process"]["cwd"] = "work/dir";
  expect_rejected(doc, "process.cwd", "work/dir");
}

TEST(OciSpec, RejectsMissingCwdAndArgs) {
  json doc = default_spec(false);
  doc["process"].erase("cwd");
  expect_rejected(doc, "process", "cwd");
  doc = default_spec(false);
  doc["process"]["args"] = json::array();
  expect_rejected(doc, "process", "args");
}

TEST(OciSpec, RejectsNegativeUid) {
  json doc = default_spec(false);
  doc["process"]["user"]["uid"] = -1;
  expect_rejected(doc, "process.user.uid", "-1");
  doc = default_spec(false);
  doc["process"]["user"]["gid"] = "root";
  expect_rejected(doc, "process.user.gid", "root");
  doc = default_spec(false);
  doc["process"]["user"]["additionalGids"] = {1, 4294967296};
  expect_rejected(doc, "process.user.additionalGids[1]", "4294967296");
}

TEST(OciSpec, RejectsSoftRlimitAboveHard) {
  json doc = default_spec(false);
  doc["process"]["rlimits"][0]["soft"] = 2048;
  expect_rejected(doc, "process.rlimits[0]", "2048");
}

TEST(OciSpec, RejectsUnknownRlimit) {
  json doc = default_spec(false);
  doc["process"]["rlimits"].push_back({{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 1}});
  expect_rejected(doc, "process.rlimits[1].type", "RLIMIT_BOGUS");
}

TEST(OciSpec, RejectsDuplicateRlimit) {
  json doc = default_spec(false);
  doc["process"]["rlimits"].push_back({{"type", "RLIMIT_NOFILE"}, {"soft", 1}, {"hard", 1}});
  expect_rejected(doc, "process.rlimits[1].type", "RLIMIT_NOFILE");
}

TEST(OciSpec, RejectsBadEnvEntry) {
  json doc = default_spec(false);
  doc["process"]["env"].push_back("NOEQUALS");
  expect_rejected(doc, "process.env[2]", "NOEQUALS");
}

TEST(OciSpec, RejectsCapabilityWithoutPrefix) {
  json doc = default_spec(false);
  doc["process"]["capabilities"]["effective"][1] = "KILL";
  expect_rejected(doc, "process.capabilities.effective[1]", "KILL");
}

TEST(OciSpec, RejectsOomScoreAdjOutOfRange) {
  json doc = default_spec(false);
  doc["process"]["oomScoreAdj"] = 1001;
  expect_rejected(doc, "process.oomScoreAdj", "1001");
}

TEST(OciSpec, RejectsRelativeMountDestination) {
  json doc = default_spec(false);
  doc["mounts"][2]["destination"] = "dev/pts";
  expect_rejected(doc, "mounts[2].destination", "dev/pts");
}

TEST(OciSpec, RejectsMountOptionsOfWrongType) {
  json doc = default_spec(false);
  doc["mounts"][0]["options"] = {"ro", 7};
  expect_rejected(doc, "mounts[0].options[1]", "7");
}

TEST(OciSpec, RejectsHostnameWithoutUtsNamespace) {
  json doc = default_spec(false);
  auto& ns = doc["linux"]["namespaces"];
  for (size_t i = 0; i < ns.size(); ++i)
    if (ns[i]["type"] == "uts") ns.erase(i);
  expect_rejected(doc, "hostname", "uts");
  doc.erase("hostname");
  EXPECT_EQ(parse_error(doc), "");
}

TEST(OciSpec, RejectsUserNamespaceWithoutMappings) {
  json doc = default_spec(true);
  doc["linux"].erase("gidMappings");
  expect_rejected(doc, "linux.uidMappings", "gidMappings");
  doc = default_spec(false);
  doc["linux"]["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}});
  doc["linux"]["gidMappings"] = doc["linux"]["uidMappings"];
  expect_rejected(doc, "linux.uidMappings", "user namespace");
}

TEST(OciSpec, RejectsZeroSizeMapping) {
  json doc = default_spec(true);
  doc["linux"]["uidMappings"][0]["size"] = 0;
  expect_rejected(doc, "linux.uidMappings[0].size", "0");
}

TEST(OciSpec, RejectsBadHooks) {
  json doc = default_spec(false);
  doc["hooks"] = {{"createRuntime", json::array({{{"path", "bin/hook"}}})}};
  expect_rejected(doc, "hooks.createRuntime[0].path", "bin/hook");
  doc["hooks"] = {{"poststop", json::array({{{"path", "/bin/true"}, {"timeout", 0}}})}};
  expect_rejected(doc, "hooks.poststop[0].timeout", "0");
}

TEST(OciSpec, ParsesHooks) {
  json doc = default_spec(false);
  doc["hooks"] = {
      {"prestart", json::array({{{"path", "/bin/a"}}})},
      {"createRuntime",
       json::array(
           {{{"path", "/bin/b"}, {"args", {"b", "-x"}}, {"env", {"K=V"}}, {"timeout", 5}}})},
      {"poststop", json::array({{{"path", "/bin/c"}}, {{"path", "/bin/d"}}})},
  };
  Spec s = parse_spec(doc.dump());
  ASSERT_EQ(s.hooks.prestart.size(), 1u);
  ASSERT_EQ(s.hooks.create_runtime.size(), 1u);
  EXPECT_EQ(s.hooks.create_runtime[0].args, (std::vector<std::string>{"b", "-x"}));
  EXPECT_EQ(s.hooks.create_runtime[0].env, std::vector<std::string>{"K=V"});
  EXPECT_EQ(s.hooks.create_runtime[0].timeout, 5);
  EXPECT_EQ(s.hooks.poststop.size(), 2u);
  EXPECT_TRUE(s.hooks.start_container.empty());
}

TEST(OciSpec, RejectsMissingRoot) {
  json doc = default_spec(false);
  doc.erase("root");
  expect_rejected(doc, "root", "missing");
  doc = default_spec(false);
  doc["root"]["path"] = "";
  expect_rejected(doc, "root.path", "\"\"");
}

TEST(OciSpec, RejectsUnknownTimeOffsetClock) {
  json doc = default_spec(false);
  doc["linux"]["namespaces"].push_back({{"type", "time"}});
  doc["linux"]["timeOffsets"] = {{"realtime", {{"secs", 1}}}};
  expect_rejected(doc, "linux.timeOffsets", "realtime");
}

TEST(OciSpec, RejectsRelativeMaskedPath) {
  json doc = default_spec(false);
  doc["linux"]["maskedPaths"][3] = "proc/keys";
  expect_rejected(doc, "linux.maskedPaths[3]", "proc/keys");
}

TEST(OciSpec, RejectsUnknownPropagation) {
  json doc = default_spec(false);
  doc["linux"]["rootfsPropagation"] = "sideways";
  expect_rejected(doc, "linux.rootfsPropagation", "sideways");
}

TEST(OciSpec, ParsesProcessJsonForExec) {
  json p = default_spec(false)["process"];
  p["cwd"] = "/tmp";
  Process proc = parse_process(p);
  EXPECT_EQ(proc.cwd, "/tmp");
  p["cwd"] = "tmp";
  try {
    parse_process(p);
    ADD_FAILURE() << "accepted a relative cwd";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("process.cwd"), std::string::npos) << e.what();
  }
}

TEST(OciSpec, NamespaceNamesRoundTrip) {
  for (auto t :
       {NamespaceType::pid, NamespaceType::network, NamespaceType::mount, NamespaceType::ipc,
        NamespaceType::uts, NamespaceType::user, NamespaceType::cgroup, NamespaceType::time}) {
    EXPECT_EQ(namespace_from_name(namespace_name(t)), t);
    EXPECT_NE(namespace_clone_flag(t), 0);
  }
  EXPECT_FALSE(namespace_from_name("net").has_value());
}

}  // namespace
}  // namespace vessel::oci
