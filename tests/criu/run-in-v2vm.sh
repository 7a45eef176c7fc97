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
bins="vessel-runtime vessel-integration-tests vessel vessel-monitor-ctl"

if [ "${V2VM:-}" != 1 ]; then
  for bin in vessel-runtime vessel-integration-tests; do
    [ -x "$build/bin/$bin" ] || { echo "run-in-v2vm: no $build/bin/$bin (build first)" >&2; exit 2; }
  done
  # The shared libraries the guest's minbase may lack (architecture.md, "Pure cgroup v2").
  libs=$build/v2vm-criu-libs
  . "$repo/tests/lib/v2vm-libs.sh"
  # shellcheck disable=SC2046
  v2vm_copy_libs "$libs" $(for bin in $bins; do echo "$build/bin/$bin"; done)
  v2vm=${V2VM_TOOL:-$repo/../shared/tools/v2vm}
  [ -x "$v2vm" ] || v2vm=/work/shared/tools/v2vm
  cd "$repo"
  # A cache of its own: the extra packages are part of the cache key.
  exec env V2VM_EXTRA_PACKAGES=criu V2VM_CACHE="${V2VM_CACHE:-/var/cache/v2vm-criu}" \
    "$v2vm" --mem 2G --timeout "${V2VM_TIMEOUT:-1500}" \
    --share "$repo" --cwd "$repo" --env BUILD="$build" --env LIBS="$libs" \
    -- bash "$repo/tests/criu/run-in-v2vm.sh" "$@"
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
