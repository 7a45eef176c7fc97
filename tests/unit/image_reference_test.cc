// Image references (normalization, registries with ports, digests, invalid input) and the
// WWW-Authenticate challenges and credential files of the registry client.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "image/reference.h"
#include "image/registry.h"
#include "util/error.h"

namespace vessel::image {
namespace {

const std::string kDigest =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(ImageRefTest, ShortNamesAreDockerHubLibrary) {
  auto r = parse_reference("busybox");
  EXPECT_EQ(r.registry, "docker.io");
  EXPECT_EQ(r.repository, "library/busybox");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(r.digest, "");
  EXPECT_EQ(r.str(), "docker.io/library/busybox:latest");
  EXPECT_EQ(r.stored_name(), "docker.io/library/busybox:latest");
  EXPECT_EQ(r.api_host(), "registry-1.docker.io");
  EXPECT_EQ(r.manifest_ref(), "latest");

  EXPECT_EQ(parse_reference("library/busybox:1.36").str(), "docker.io/library/busybox:1.36");
  EXPECT_EQ(parse_reference("bitnami/redis").str(), "docker.io/bitnami/redis:latest");
  EXPECT_EQ(parse_reference("docker.io/busybox").str(), "docker.io/library/busybox:latest");
  EXPECT_EQ(parse_reference("index.docker.io/library/alpine:3").str(),
            "docker.io/library/alpine:3");
}

TEST(ImageRefTest, RegistriesWithPortsAndLocalhost) {
  auto r = parse_reference("127.0.0.1:5000/test/busybox:v1");
  EXPECT_EQ(r.registry, "127.0.0.1:5000");
  EXPECT_EQ(r.repository, "test/busybox");
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(r.api_host(), "127.0.0.1:5000");
  EXPECT_EQ(r.str(), "127.0.0.1:5000/test/busybox:v1");

  auto q = parse_reference("quay.io/podman/hello");
  EXPECT_EQ(q.registry, "quay.io");
  EXPECT_EQ(q.repository, "podman/hello");  // no library/ outside docker.io
  EXPECT_EQ(q.tag, "latest");

  auto l = parse_reference("localhost/busybox");
  EXPECT_EQ(l.registry, "localhost");
  EXPECT_EQ(l.repository, "busybox");
  EXPECT_EQ(parse_reference("localhost:5000/a/b/c:tag").str(), "localhost:5000/a/b/c:tag");
  EXPECT_EQ(parse_reference("[::1]:5000/x").registry, "[::1]:5000");
  // A first component without '.' or ':' is a path component, not a host.
  EXPECT_EQ(parse_reference("myhost/app").str(), "docker.io/myhost/app:latest");
}

TEST(ImageRefTest, Digests) {
  auto r = parse_reference("127.0.0.1:5000/test/busybox@" + kDigest);
  EXPECT_EQ(r.tag, "");
  EXPECT_EQ(r.digest, kDigest);
  EXPECT_EQ(r.manifest_ref(), kDigest);
  EXPECT_EQ(r.str(), "127.0.0.1:5000/test/busybox@" + kDigest);
  EXPECT_EQ(r.stored_name(), "127.0.0.1:5000/test/busybox@" + kDigest);

  auto both = parse_reference("busybox:1.36@" + kDigest);
  EXPECT_EQ(both.tag, "1.36");
  EXPECT_EQ(both.digest, kDigest);
  EXPECT_EQ(both.manifest_ref(), kDigest);  // the digest wins
  EXPECT_EQ(both.stored_name(), "docker.io/library/busybox:1.36");
  EXPECT_EQ(both.str(), "docker.io/library/busybox:1.36@" + kDigest);
}

TEST(ImageRefTest, SeparatorsInComponents) {
  EXPECT_NO_THROW(parse_reference("x/a.b_c__d---e/f-g:T_a.g-1"));
  // A first component with a dot is a host, and hosts have no underscores.
  EXPECT_THROW(parse_reference("a.b_c/x"), Error);
  EXPECT_EQ(parse_reference("example.com/a/b/c/d").repository, "a/b/c/d");
}

TEST(ImageRefTest, InvalidReferencesAreRejected) {
  for (const char* bad : {"",
                          "Busybox",
                          "docker.io/Library/busybox",
                          "busybox:",
                          ":tag",
                          "busybox:-x",
                          "busybox@sha256:abc",
                          "busybox@md5:0123",
                          "a//b",
                          "/busybox",
                          "busybox/",
                          "a__-b",
                          "-a",
                          "a-",
                          "a_._b",
                          "example.com:/x",
                          "example.com:port/x",
                          "exa mple.com/x",
                          "busybox:tag:more",
                          "busybox:Ünicode"}) {
    EXPECT_THROW(parse_reference(bad), Error) << bad;
  }
  try {
    parse_reference("Busybox");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid reference \"Busybox\": repository name must be lowercase");
  }
  std::string longtag(129, 'a');
  EXPECT_THROW(parse_reference("busybox:" + longtag), Error);
  EXPECT_NO_THROW(parse_reference("busybox:" + longtag.substr(1)));
}

TEST(ImageRefAuthTest, BearerChallenge) {
  auto ch = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->scheme, "bearer");
  EXPECT_EQ(ch->params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(ch->params["service"], "registry.docker.io");
  EXPECT_EQ(ch->params["scope"], "repository:library/busybox:pull");
}

TEST(ImageRefAuthTest, BasicAndOddlyFormattedChallenges) {
  auto b = parse_www_authenticate(R"(Basic realm="Registry Realm")");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->scheme, "basic");
  EXPECT_EQ(b->params["realm"], "Registry Realm");

  // Spaces after commas, unquoted values, mixed case, escaped quotes, a comma inside quotes.
  auto o = parse_www_authenticate(
      R"(  BEARER Realm=https://h/t ,  Service="a\"b" , scope="repository:x:pull,push")");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->scheme, "bearer");
  EXPECT_EQ(o->params["realm"], "https://h/t");
  EXPECT_EQ(o->params["service"], "a\"b");
  EXPECT_EQ(o->params["scope"], "repository:x:pull,push");

  // Only the first of two challenges.
  auto two = parse_www_authenticate(R"(Bearer realm="r", Basic realm="b")");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->scheme, "bearer");
  EXPECT_EQ(two->params["realm"], "r");

  EXPECT_FALSE(parse_www_authenticate(""));
  EXPECT_FALSE(parse_www_authenticate(R"(Bearer realm="unterminated)"));
  auto bare = parse_www_authenticate("Basic");
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->params.empty());
}

TEST(ImageRefAuthTest, CredentialsFromAnAuthFile) {
  char tmpl[] = "/tmp/vessel-authXXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(tmpl);
    // "user:pa:ss" and "hub:secret"
    f << R"({"auths": {"127.0.0.1:5000": {"auth": "dXNlcjpwYTpzcw=="},
                       "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
                       "bad.example": {"auth": "!!!"}}})";
  }
  EXPECT_EQ(find_credentials("127.0.0.1:5000", tmpl).value_or(""), "user:pa:ss");
  EXPECT_EQ(find_credentials("docker.io", tmpl).value_or(""), "hub:secret");
  EXPECT_FALSE(find_credentials("quay.io", tmpl));
  EXPECT_THROW(find_credentials("bad.example", tmpl), Error);
  unlink(tmpl);
  EXPECT_THROW(find_credentials("quay.io", tmpl), Error);  // a given file must exist
}

}  // namespace
}  // namespace vessel::image
