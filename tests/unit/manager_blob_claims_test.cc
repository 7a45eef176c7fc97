// Claims on blobs (util/blob_claims.h): what a command killed between storing a blob and
// recording its image left is removed by the next Store, and nothing removes a blob a live
// process claimed (the next Store, image garbage collection, `system check`).
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "image/blob_store.h"
#include "image/digest.h"
#include "manager/check.h"
#include "manager/images.h"
#include "manager/oci_runtime.h"
#include "manager/store.h"
#include "util/blob_claims.h"
#include "util/file.h"

namespace vessel::manager {
namespace {

struct TempStore {
  TempStore() {
    char t[] = "/tmp/vessel-utest-claims-XXXXXX";
    root = ::mkdtemp(t);
  }
  ~TempStore() { remove_tree(root); }
  StorePaths paths() const { return {root, root + "/run"}; }
  std::string root;
};

std::vector<std::string> read_dir_names(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

// A child that stores `blobs` (each claimed) and dies with SIGKILL before recording anything.
void killed_writer(const std::string& root, const std::vector<std::string>& blobs) {
  pid_t p = ::fork();
  ASSERT_GE(p, 0);
  if (p == 0) {
    image::BlobStore b(root);
    for (const auto& data : blobs) b.put(data);
    ::kill(::getpid(), SIGKILL);
    ::_exit(1);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(p, &st, 0), p);
  ASSERT_TRUE(WIFSIGNALED(st));
}

TEST(BlobClaims, TheNextStoreRemovesWhatAKilledWriterLeftAndKeepsWhatIsUsed) {
  TempStore t;
  std::string live_digest, used_digest, dead_digest;
  {
    Store s(t.paths());
    live_digest = s.blobs().put("claimed by this live process");
    killed_writer(t.root, {"only the dead writer's", "claimed by this live process", "used"});
    dead_digest = image::sha256_digest("only the dead writer's");
    used_digest = image::sha256_digest("used");
    ImageRecord img;
    img.id = used_digest.substr(7);
    img.manifest_digest = used_digest;
    img.config_digest = used_digest;
    img.created = now_rfc3339();
    s.put_image(img);  // "used" is recorded after the writer died
    EXPECT_TRUE(s.blobs().has(dead_digest));
    EXPECT_TRUE(has_stale_claims(t.paths().blob_claims()));

    Store next(t.paths());  // the next command
    EXPECT_FALSE(next.blobs().has(dead_digest));
    EXPECT_TRUE(next.blobs().has(live_digest));  // the live claim keeps it
    EXPECT_TRUE(next.blobs().has(used_digest));  // an image uses it
    EXPECT_FALSE(has_stale_claims(t.paths().blob_claims()));

    // Not an orphan while claimed: `system check` is clean, garbage collection keeps it.
    CheckReport r = check_store(next, false);
    EXPECT_EQ(r.unresolved(), 0u) << (r.findings.empty() ? "" : r.findings[0].detail);
    collect_garbage(next);
    EXPECT_TRUE(next.blobs().has(live_digest));
    // Once the claim is dropped it is an ordinary orphan.
    s.end_of_command();
    EXPECT_EQ(check_store(next, false).unresolved(), 1u);
    collect_garbage(next);
    EXPECT_FALSE(next.blobs().has(live_digest));
    EXPECT_TRUE(next.blobs().has(used_digest));
  }
}

TEST(BlobClaims, AClaimFileOfAReusedPidIsStale) {
  TempStore t;
  std::string dir = t.root + "/blobs/pending";
  mkdir_p(dir);
  // This process's PID with another start time: a dead process whose PID came back.
  std::string mine = claim_file_name();
  std::string other = "claims-p" + std::to_string(::getpid()) + "-1-0";
  ASSERT_NE(mine.substr(0, mine.rfind('-')), other.substr(0, other.rfind('-')));
  write_file_atomic(dir + "/" + other, "sha256:" + std::string(64, 'a') + "\n");
  EXPECT_TRUE(has_stale_claims(dir));
  write_file_atomic(dir + "/" + mine, "sha256:" + std::string(64, 'b') + "\n");
  {
    ClaimsLock lock(dir);
    EXPECT_EQ(lock.stale_files.size(), 1u);
    EXPECT_EQ(lock.stale.count("sha256:" + std::string(64, 'a')), 1u);
    EXPECT_EQ(lock.live.count("sha256:" + std::string(64, 'b')), 1u);
  }
  ::unlink((dir + "/" + mine).c_str());
}

TEST(BlobClaims, AWriterThatReusesABlobClaimsItFirst) {
  TempStore t;
  std::string digest;
  {
    image::BlobStore first(t.root);
    digest = first.put("shared");
  }
  killed_writer(t.root, {"shared"});  // its claim names "shared" too
  image::BlobStore b(t.root);
  EXPECT_TRUE(b.claim(digest));  // found, and claimed by this live process
  Store next(t.paths());
  EXPECT_TRUE(next.blobs().has(digest));
  b.release_claims();
  EXPECT_EQ(read_dir_names(t.root + "/blobs/pending").size(), 0u);  // the dead one's went too
}

TEST(ExternalRuntimeSpec, VersionFromFeaturesIsCappedAtOursAndFallsBack) {
  EXPECT_EQ(spec_version_from_features(R"({"ociVersionMin":"1.0.0","ociVersionMax":"1.1.0"})"),
            "1.1.0");
  EXPECT_EQ(spec_version_from_features(R"({"ociVersionMax":"1.2.1"})"), "1.2.1");
  EXPECT_EQ(spec_version_from_features(R"({"ociVersionMax":"1.3.0"})"), "1.3.0");
  EXPECT_EQ(spec_version_from_features(R"({"ociVersionMax":"1.4.0+dev"})"), "1.3.0");
  EXPECT_EQ(spec_version_from_features(R"({"ociVersionMax":"1.1.0-rc.1"})"), "1.1.0-rc.1");
  EXPECT_EQ(spec_version_from_features(R"({"ociVersionMax":"one"})"), kFallbackSpecVersion);
  EXPECT_EQ(spec_version_from_features("not json"), kFallbackSpecVersion);
  EXPECT_EQ(spec_version_from_features("{}"), kFallbackSpecVersion);
  // A program that has no `features` command (crun 1.8): the fallback, which crun 1.8 takes.
  EXPECT_EQ(external_spec_version("/bin/false"), kFallbackSpecVersion);
  EXPECT_EQ(std::string(kFallbackSpecVersion), "1.0.2");
}

}  // namespace
}  // namespace vessel::manager
