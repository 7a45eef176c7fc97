#!/bin/bash
# Runs the CRIU tests (gtest filter 'Checkpoint*:ManagerCheckpoint*' by default) where CRIU works: in the throw-away
# pure cgroup v2 VM (../shared/tools/v2vm, Debian's 6.1 kernel) with Debian's criu added. On this
# host's kernel `criu check` fails (vDSO), so there the same tests skip with that reason.
#
# Builds nothing: it uses an existing build (BUILD=build by default, relative to the repository).
#   tests/criu/run-in-v2vm.sh                                   # make test-criu-vm
#   tests/criu/run-in-v2vm.sh --gtest_filter='CheckpointTest.Counter*'
# Environment: BUILD, V2VM_TOOL, V2VM_CACHE (default /var/cache/v2vm-criu), V2VM_TIMEOUT
# (seconds, default 1500).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac

if [ "${V2VM:-}" != 1 ]; then
  . "$repo/tests/lib/v2vm-libs.sh"
  v2vm_run_self criu criu 1500 "$repo/tests/criu/run-in-v2vm.sh" "vessel-runtime vessel-integration-tests" -- "$@"
fi

# In the guest, as root. ---------------------------------------------------------------------
export LD_LIBRARY_PATH=$LIBS
echo "guest kernel $(uname -r); $(criu --version | head -1)"
criu check && echo "criu check: ok"
# The tests' temp dirs must not be on the 9p share (overlayfs and CRIU need a local fs).
export TMPDIR=/var/tmp
filter=()
case " $* " in *--gtest_filter*) ;; *) filter=(--gtest_filter='Checkpoint*:ManagerCheckpoint*:ParityCliHelpTest.Checkpoint*') ;; esac
exec "$BUILD/bin/vessel-integration-tests" "${filter[@]}" "$@"
