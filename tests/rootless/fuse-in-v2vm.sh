#!/bin/bash
# The rootless fuse-overlayfs tests where /etc/fuse.conf has user_allow_other, which this build
# host lacks (and keeps lacking): RootlessFuseTest.* and the fuse-overlayfs parts of
# RootlessManagerTest in the throw-away v2vm guest (../shared/tools/v2vm), with Debian's
# fuse-overlayfs and fuse3 added (a VM cache of its own). There the fuse-overlayfs mount has
# allow_other: container users other than root reach it, the kernel checking each against the
# owners the daemon reports. docs/userns.md.
#
# Builds nothing: it uses an existing build (BUILD=build by default, relative to the repository).
#   tests/rootless/fuse-in-v2vm.sh                     # make test-rootless-fuse-vm
#   tests/rootless/fuse-in-v2vm.sh --gtest_filter='RootlessFuseTest.KeepId*'
# Environment: BUILD, V2VM_TOOL, V2VM_CACHE (default /var/cache/v2vm-rlfuse), V2VM_TIMEOUT
# (seconds, default 1800: the guest has no KVM here, and each test takes tens of seconds).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac

if [ "${V2VM:-}" != 1 ]; then
  . "$repo/tests/lib/v2vm-libs.sh"
  BINS="vessel-runtime vessel-integration-tests vessel vessel-monitor-ctl" \
    v2vm_run_self rlfuse fuse-overlayfs,fuse3 1800 "$repo/tests/rootless/fuse-in-v2vm.sh" \
    "vessel vessel-monitor vessel-monitor-ctl vessel-init vessel-integration-tests" -- "$@"
fi

# In the guest, as root. ---------------------------------------------------------------------
# The test user's vessel runs under `env -i`: its libraries go where ld.so finds them anyway.
cp "$LIBS"/* /usr/local/lib/ && ldconfig
echo user_allow_other > /etc/fuse.conf
# fusermount3 -u as a user reads /etc/mtab, the symlink every Debian system has but this
# minimal guest lacks.
[ -e /etc/mtab ] || ln -s ../proc/self/mounts /etc/mtab
modprobe fuse || true
echo "guest kernel $(uname -r); $(fuse-overlayfs --version 2>&1 | grep -m1 "fuse-overlayfs: version"); /etc/fuse.conf: user_allow_other"
filter='--gtest_filter=RootlessFuseTest.*:RootlessManagerTest.FuseOverlayfs*:RootlessManagerTest.ImageIds*:RootlessManagerTest.KeepIdShows*'
[ $# -gt 0 ] && filter=$1
exec "$BUILD/bin/vessel-integration-tests" "$filter"
