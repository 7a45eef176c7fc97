// The debian template: debootstrap of bookworm from the Debian archive this machine reaches
// (the mirror apt uses), stored as an ordinary image and run. About a minute or two: it
// downloads and unpacks the minbase package set.
#include <unistd.h>

#include "harness.h"

namespace itest {
namespace {

TEST(TemplateTest, DebianFromTheArchiveIsAnImageThatRuns) {
  if (runtime_is_runc()) GTEST_SKIP() << "manager tests run once, with vessel's own runtime";
  ASSERT_EQ(run_cmd({"sh", "-c", "command -v debootstrap"}).exit_code(), 0)
      << "debootstrap is not installed (the Makefile's DEB_PACKAGES has it)";
  char tmpl[] = "/tmp/vessel-ttest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, root = dir + "/store";
  auto v = [&](std::vector<std::string> args, Millis timeout = kTimeout) {
    args.insert(args.begin(), {VESSEL_MANAGER_BIN, "--root", root});
    return run_cmd(args, timeout);
  };
  Result ls = v({"template", "ls"});
  EXPECT_TRUE(contains(ls.out, "debian")) << ls.describe();

  // debootstrap downloads from the archive: in the network namespace the tests started in.
  Result build = run_cmd({"nsenter", "--net=" + original_netns(), VESSEL_MANAGER_BIN, "--root",
                          root, "template", "build", "debian", "--tag", "localhost/bookworm:test"},
                         900s);
  ASSERT_TRUE(build.ok()) << build.describe();
  Result images = v({"images", "--format", "json"});
  auto list = json::parse(images.out);
  ASSERT_EQ(list.size(), 1u) << images.out;
  // minbase without package caches: tens of MB compressed, not hundreds.
  uint64_t size = list[0].value("Size", uint64_t{0});
  EXPECT_GT(size, 20u << 20) << images.out;
  EXPECT_LT(size, 150u << 20) << images.out;

  // The first run unpacks the image's one large layer (~100 MB): more than kTimeout on a
  // loaded machine.
  Result run =
      v({"run", "--rm", "--network", "none", "bookworm:test", "sh", "-c",
         "cat /etc/debian_version; dpkg-query -W -f='${Status}\\n' coreutils; "
         "apt-get --version | head -1; find /var/cache/apt/archives -name '*.deb' | wc -l"},
        180s);
  ASSERT_TRUE(run.ok()) << run.describe();
  auto lines = split_lines(trim(run.out));
  ASSERT_EQ(lines.size(), 4u) << run.out;
  EXPECT_EQ(lines[0].substr(0, 3), "12.") << run.out;
  EXPECT_EQ(lines[1], "install ok installed");
  EXPECT_TRUE(contains(lines[2], "apt ")) << run.out;
  EXPECT_EQ(lines[3], "0") << "package caches were kept in the image";
  // The default command of the template is bash.
  Result cmd = v({"image", "inspect", "bookworm:test"});
  EXPECT_TRUE(contains(cmd.out, "\"bash\"")) << cmd.out;

  EXPECT_TRUE(v({"rmi", "bookworm:test"}).ok());
  EXPECT_EQ(trim(v({"images", "-q"}).out), "");
  if (!getenv("VESSEL_TEST_KEEP")) remove_tree(dir);
}

}  // namespace
}  // namespace itest
