#!/bin/bash
# vessel with crun as its runtime (vessel.conf: [containers] runtime = "crun"), end to end, in the
# throw-away pure cgroup v2 VM (../shared/tools/v2vm, Debian 12's crun 1.8.1). crun cannot run
# on this build host: it refuses hybrid cgroups, and on cgroup2 it cannot load its eBPF device
# filter without CAP_SYS_RESOURCE here. In the guest: a first `vessel run --rm --network none`
# by hand (to show crun's own view), then the integration tests OciRuntimeTest.* (crun's and
# runc's lifecycle: run --rm, run -d, exec, logs, top, update, pause, stop, rm; bad values).
#
# Builds nothing: it uses an existing build (BUILD=build by default, relative to the repository).
#   tests/runtimes/crun-in-v2vm.sh                              # make test-crun-vm
#   tests/runtimes/crun-in-v2vm.sh --gtest_filter='OciRuntimeTest.Crun*'
# Environment: BUILD, V2VM_TOOL, V2VM_CACHE (default /var/cache/v2vm-crun), V2VM_TIMEOUT
# (seconds, default 1200).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
bins="vessel-runtime vessel-integration-tests vessel vessel-monitor-ctl"

if [ "${V2VM:-}" != 1 ]; then
  for bin in vessel vessel-integration-tests; do
    [ -x "$build/bin/$bin" ] || { echo "crun-in-v2vm: no $build/bin/$bin (build first)" >&2; exit 2; }
  done
  # The shared libraries the guest's minbase may lack (architecture.md, "Pure cgroup v2").
  libs=$build/v2vm-crun-libs
  rm -rf "$libs" && mkdir -p "$libs"
  for bin in $bins; do
    if [ -x "$build/bin/$bin" ]; then ldd "$build/bin/$bin" | awk '$3 ~ /^\// {print $3}'; fi
  done | sort -u | while read -r lib; do
    case $(basename "$lib") in
      libc.so*|libm.so*|ld-linux*|libpthread.so*|libdl.so*|librt.so*) ;;  # the guest's glibc
      *) cp -L "$lib" "$libs/" ;;
    esac
  done
  v2vm=${V2VM_TOOL:-$repo/../shared/tools/v2vm}
  [ -x "$v2vm" ] || v2vm=/work/shared/tools/v2vm
  cd "$repo"
  # A cache of its own: the extra packages are part of the cache key.
  exec env V2VM_EXTRA_PACKAGES=crun V2VM_CACHE="${V2VM_CACHE:-/var/cache/v2vm-crun}" \
    "$v2vm" --mem 2G --timeout "${V2VM_TIMEOUT:-1200}" \
    --share "$repo" --cwd "$repo" --env BUILD="$build" --env LIBS="$libs" \
    -- bash "$repo/tests/runtimes/crun-in-v2vm.sh" "$@"
fi

# In the guest, as root. ---------------------------------------------------------------------
export LD_LIBRARY_PATH=$LIBS
echo "guest kernel $(uname -r); $(crun --version | head -1); cgroup $(stat -fc %T /sys/fs/cgroup)"
# The store must not be on the 9p share (overlayfs needs a local filesystem).
export TMPDIR=/var/tmp
demo=$(mktemp -d /var/tmp/vessel-crun-XXXXXX)
printf '[containers]\nruntime = "crun"\n' > "$demo/vessel.conf"
v() { "$BUILD/bin/vessel" --config "$demo/vessel.conf" --root "$demo/store" "$@"; }
v template build busybox >/dev/null
echo "+ vessel info | grep -i runtime"; v info | grep -i runtime || true
echo "+ vessel run --rm --network none busybox sh -c 'echo hello from crun; cat /proc/self/cgroup'"
v run --rm --network none busybox sh -c 'echo hello from crun; cat /proc/self/cgroup'
id=$(v run -d --network none busybox sleep 300)
echo "+ crun --root $demo/store/run/runtimes/crun list"
crun --root "$demo/store/run/runtimes/crun" list
echo "+ config.json ociVersion (vessel-runtime's would be 1.3.0): $(grep -o '"ociVersion": *"[^"]*"' "$demo/store/containers/$id/config.json")"
echo "+ vessel exec: $(v exec "$id" sh -c 'echo exec in $(hostname)')"
v stop -t 1 "$id" >/dev/null && v rm "$id" >/dev/null && echo "+ stopped and removed"
echo "left in crun's state: [$(crun --root "$demo/store/run/runtimes/crun" list -q)]"
rm -rf "$demo"
filter=()
case " $* " in *--gtest_filter*) ;; *) filter=(--gtest_filter='OciRuntimeTest.*') ;; esac
exec "$BUILD/bin/vessel-integration-tests" "${filter[@]}" "$@"
