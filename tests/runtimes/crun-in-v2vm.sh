#!/bin/bash
# vessel with crun as its runtime (vessel.conf: [containers] runtime = "crun"), end to end, in the
# throw-away pure cgroup v2 VM (../shared/tools/v2vm, Debian 12's crun 1.8.1). crun cannot run
# on this build host: it refuses hybrid cgroups, and on cgroup2 it cannot load its eBPF device
# filter without CAP_SYS_RESOURCE here. In the guest: `vessel run --rm --network none` (output,
# exit code), `run -d` (crun's own `list` and `state` show it; config.json's ociVersion is one
# crun takes), `exec` (output, exit code), `logs`, `stop` (crun's state gone), `rm`, nothing
# mounted; then, where the build has them, the integration tests OciRuntimeTest.* (crun's and
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

if [ "${V2VM:-}" != 1 ]; then
  . "$repo/tests/lib/v2vm-libs.sh"
  v2vm_run_self crun crun 1200 "$repo/tests/runtimes/crun-in-v2vm.sh" "vessel vessel-monitor vessel-monitor-ctl" -- "$@"
fi

# In the guest, as root. ---------------------------------------------------------------------
export LD_LIBRARY_PATH=$LIBS
echo "guest kernel $(uname -r); $(crun --version | head -1); /sys/fs/cgroup: $(stat -fc %T /sys/fs/cgroup)"
# The store must not be on the 9p share (overlayfs needs a local filesystem).
export TMPDIR=/var/tmp
demo=$(mktemp -d /var/tmp/vessel-crun-XXXXXX)
printf '[containers]\nruntime = "crun"\n' > "$demo/vessel.conf"
v() { "$BUILD/bin/vessel" --config "$demo/vessel.conf" --root "$demo/store" "$@"; }
fails=0
check() { # check WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: expected [$2], got [$3]"; fails=$((fails + 1)); fi
}
crun_list() { crun --root "$demo/store/run/runtimes/crun" list -q 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
v template build busybox >/dev/null
echo "+ vessel info | grep -i runtime"; v info | grep -i runtime || true

out=$(v run --rm --network none busybox sh -c 'echo hello from crun; exit 3' 2>&1) && rc=0 || rc=$?
check "vessel run --rm --network none (output)" "hello from crun" "$out"
check "vessel run --rm --network none (exit code)" 3 "$rc"
id=$(v run -d --network none --name c1 busybox sh -c 'echo started; exec sleep 300')
check "run -d: crun's list shows the container" "$id" "$(crun_list)"
check "config.json ociVersion is not 1.3.0 (crun 1.8 refuses it)" yes \
  "$(grep -q '"ociVersion": *"1.3.0"' "$demo/store/containers/$id/config.json" && echo no || echo yes)"
echo "  config.json: $(grep -o '"ociVersion": *"[^"]*"' "$demo/store/containers/$id/config.json")"
check "crun state: running" running \
  "$(crun --root "$demo/store/run/runtimes/crun" state "$id" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
check "exec" "bar 3" "$(v exec -e FOO=bar c1 sh -c 'echo $FOO $((1+2))')"
v exec c1 sh -c 'exit 7' && rc=0 || rc=$?
check "exec exit code" 7 "$rc"
check "logs" started "$(v logs c1)"
check "the container's cgroup (cgroup v2, crun's)" yes \
  "$(v exec c1 cat /proc/self/cgroup | grep -q "^0::" && echo yes || echo no)"
v stop -t 1 c1 >/dev/null
check "stop: exited" exited "$(v inspect -f '{{.State.Status}}' c1)"
check "stop: crun's state is gone" "" "$(crun_list)"
v rm c1 >/dev/null
check "rm: no container" "" "$(v ps -aq)"
check "nothing mounted under the store" 0 "$(grep -c "$demo" /proc/self/mountinfo || true)"
rm -rf "$demo"
if [ -x "$BUILD/bin/vessel-integration-tests" ]; then
  filter=()
  case " $* " in *--gtest_filter*) ;; *) filter=(--gtest_filter='OciRuntimeTest.*') ;; esac
  "$BUILD/bin/vessel-integration-tests" "${filter[@]}" "$@" || fails=$((fails + 1))
fi
echo "crun in the v2 VM: $fails failed"
[ "$fails" = 0 ]
