#!/bin/bash
# End to end: podman (`podman container checkpoint/restore`) and containerd (`ctr`) checkpoint
# and restore containers with vessel-runtime as their OCI runtime, where CRIU works: in the
# throw-away pure cgroup v2 VM (../shared/tools/v2vm, Debian's 6.1 kernel) with Debian's criu,
# podman and containerd added.
#
# podman cannot be part of the VM image: V2VM_EXTRA_PACKAGES=criu,podman,containerd makes
# debootstrap fail ("Failure while configuring base packages ... (possibly the package
# golang-github-containers-common is at fault)"). So the VM is the criu one (make test-criu-vm's
# cache) and podman, containerd and their dependencies are .deb files downloaded once on the
# host into a directory of their own (V2VM_ENGINE_DEBS, default
# /var/cache/v2vm-criu-engines-debs, ~55 MB: what apt resolves against the guest's own dpkg
# status) and unpacked in the guest at the start of each run (its writes are thrown away).
#
#   tests/criu/engines-in-v2vm.sh            # make test-criu-engines-vm
#   VESSEL_E2E_ONLY=podman tests/criu/engines-in-v2vm.sh
#
# Builds nothing: it uses an existing build (BUILD=build by default). No network: the image is
# built from the guest's static busybox and imported. Environment: BUILD, V2VM_TOOL,
# V2VM_CACHE (default /var/cache/v2vm-criu), V2VM_ENGINE_DEBS, V2VM_TIMEOUT (seconds, default
# 1500), VESSEL_E2E_ONLY=podman|containerd.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac

if [ "${V2VM:-}" != 1 ]; then
  [ -x "$build/bin/vessel-runtime" ] || { echo "engines-in-v2vm: no $build/bin/vessel-runtime (build first)" >&2; exit 2; }
  libs=$build/v2vm-criu-engines-libs
  . "$repo/tests/lib/v2vm-libs.sh"
  v2vm_copy_libs "$libs" "$build/bin/vessel-runtime"
  v2vm=${V2VM_TOOL:-$repo/../shared/tools/v2vm}
  [ -x "$v2vm" ] || v2vm=/work/shared/tools/v2vm
  cd "$repo"
  export V2VM_EXTRA_PACKAGES=criu V2VM_CACHE="${V2VM_CACHE:-/var/cache/v2vm-criu}"
  debs=${V2VM_ENGINE_DEBS:-/var/cache/v2vm-criu-engines-debs}
  if ! ls "$debs"/podman_*.deb >/dev/null 2>&1; then
    echo "engines-in-v2vm: downloading podman and containerd for the guest into $debs"
    mkdir -p "$debs/partial"
    "$v2vm" --timeout 600 --share "$debs" -- cp /var/lib/dpkg/status "$debs/guest-status"
    apt-get -q -o Dir::State::status="$debs/guest-status" -o Dir::Cache::archives="$debs" \
      -o Debug::NoLocking=1 --download-only --no-install-recommends -y install podman containerd
  fi
  shares=(--share "$repo" --share "$debs:/debs:ro")
  case $build/ in "$repo"/*) ;; *) shares+=(--share "$build") ;; esac
  exec "$v2vm" --mem 2G --timeout "${V2VM_TIMEOUT:-1500}" \
    "${shares[@]}" --cwd "$repo" --env BUILD="$build" --env LIBS="$libs" \
    --env VESSEL_E2E_ONLY="${VESSEL_E2E_ONLY:-}" \
    -- bash "$repo/tests/criu/engines-in-v2vm.sh" "$@"
fi

# In the guest, as root. ---------------------------------------------------------------------
# Unpacked, not installed: no maintainer scripts or triggers to run (none of these needs one
# here), which under the VM's emulated CPU takes seconds instead of many minutes.
for deb in /debs/*.deb; do
  # --keep-directory-symlink: / is merged-usr (/bin -> usr/bin), which must stay so.
  dpkg-deb --fsys-tarfile "$deb" | tar -C / -x --keep-directory-symlink ||
    { echo "engines-in-v2vm: cannot unpack $deb" >&2; exit 1; }
done
echo "guest kernel $(uname -r); $(criu --version | head -1); $(podman --version); $(containerd --version | cut -d' ' -f1,3)"
criu check && echo "criu check: ok"
ONLY=${VESSEL_E2E_ONLY:-}
# The runtime with its libraries, outside the 9p share (conmon and the shim exec it).
T=$(mktemp -d /var/tmp/ckpt-e2e.XXXXXX)
mkdir -p "$T/bin"
cp "$BUILD/bin/vessel-runtime" "$T/bin/vessel-runtime.bin"
cat >"$T/bin/vessel-runtime-real" <<EOF
#!/bin/sh
LD_LIBRARY_PATH=$LIBS exec $T/bin/vessel-runtime.bin "\$@"
EOF
chmod +x "$T/bin/vessel-runtime-real"
VR=$T/bin/vessel-runtime-real

. "$repo/tests/lib/e2e-checks.sh"
# consecutive FILE: lines 1, 2, 3, ... with no gap or restart (a counter that kept its memory).
consecutive() { awk '$0 != NR {print "line " NR " is " $0; bad=1; exit} END {exit bad}' "$1"; }
lines() { wc -l <"$1"; }
# resumed_from_dump FILE N: the lines after the first N start at F with 1 < F <= line N (a
# value the original had: memory came back, no restart) and go on F, F+1, ... with no gap.
resumed_from_dump() {
  local first last
  first=$(sed -n "$(($2 + 1))p" "$1"); last=$(sed -n "$2p" "$1")
  ((first > 1 && first <= last)) || { echo "first $first, original's last $last"; return 1; }
  tail -n +"$(($2 + 1))" "$1" |
    awk -v f="$first" '$0 != f + NR - 1 {print "line " NR " is " $0; bad=1; exit} END {exit bad}'
}
grows_past() { wait_for 120 sh -c "test \$(wc -l < '$1') -gt $2"; }
show_criu_log() {  # the last Error lines of CRIU's logs under $1
  find "$1" -name '*.log' \( -name 'dump*' -o -name 'restore*' \) 2>/dev/null | while read -r f; do
    grep -H 'Error' "$f" | tail -n 5
  done
}

CONTAINERD_PID=
cleanup() {
  local rc=$?
  set +e
  if [[ -n ${PODMAN[*]:-} ]]; then timeout 120 "${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1; fi
  if [[ -n $CONTAINERD_PID ]]; then kill "$CONTAINERD_PID" 2>/dev/null; wait "$CONTAINERD_PID" 2>/dev/null; fi
  echo "engines checkpoint e2e: $PASSED passed, $FAILED failed"
  for f in "${FAILURES[@]}"; do echo "  failed: $f"; done
  exit "$rc"
}
trap cleanup EXIT

# The image: the guest's static busybox, one symlink per applet.
ROOTFS=$T/rootfs
busybox_image "$ROOTFS" /bin/busybox "$T/rootfs.tar"
IMG=localhost/vessel-ckpt:latest
# A counter in a shell variable (memory), appended to /tick/log every 0.1 s.
COUNTER='i=0; while :; do i=$((i+1)); echo $i >> /tick/log; sleep 0.1; done'

# =============================================================================================
podman_suite() {
  local P=$T/podman
  mkdir -p "$P"/{tick,tick2,tick3,export}
  chmod 777 "$P"/tick*
  podman_private "$P" "$VR"
  pm() { timeout 300 "${PODMAN[@]}" "$@"; }

  check_match "podman: import the busybox image" '^sha256:' pm import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" "$IMG"
  check_match "podman: run -d a counter" '^[0-9a-f]{64}' pm run -d --name ck --network none -v "$P/tick:/tick" "$IMG" sh -c "$COUNTER"
  check_ok "podman: the counter counts" grows_past "$P/tick/log" 3

  # checkpoint, restore: the counter continues from its value in memory.
  check_ok "podman: container checkpoint" pm container checkpoint ck
  [[ $RC == 0 ]] || show_criu_log "$P/root"
  check "podman: checkpointed container is exited" "exited" pm inspect -f '{{.State.Status}}' ck
  local at=$(lines "$P/tick/log")
  check_ok "podman: container restore" pm container restore ck
  [[ $RC == 0 ]] || show_criu_log "$P/root"
  check "podman: restored container is running" "running" pm inspect -f '{{.State.Status}}' ck
  check_ok "podman: the restored counter counts on" grows_past "$P/tick/log" $((at + 3))
  check_ok "podman: no gap, no restart (its memory came back)" consecutive "$P/tick/log"
  check "podman: exec into the restored container" "hi" pm exec ck echo hi
  check_match "podman: top of the restored container" 'sh -c' pm top ck

  # --leave-running, then export to a tar and import under a new name.
  check_ok "podman: checkpoint --leave-running --export" pm container checkpoint --leave-running \
    --export "$P/export/ck.tar.gz" ck
  [[ $RC == 0 ]] || show_criu_log "$P/root"
  check "podman: still running after --leave-running" "running" pm inspect -f '{{.State.Status}}' ck
  check_ok "podman: the export is a file" test -s "$P/export/ck.tar.gz"
  check_ok "podman: stop and rm the original" pm rm -f -t 0 ck
  check_ok "podman: restore --import --name ck2" pm container restore --import "$P/export/ck.tar.gz" --name ck2
  [[ $RC == 0 ]] || show_criu_log "$P/root"
  check "podman: imported container is running" "running" pm inspect -f '{{.State.Status}}' ck2
  local n=$(lines "$P/tick/log")
  check_ok "podman: the imported copy counts on" grows_past "$P/tick/log" $((n + 3))
  check_ok "podman: stop the copy" pm stop -t 1 ck2
  check_ok "podman: rm the copy" pm rm ck2

  # A container with a terminal (-t): its pty master is conmon's; restore gets a new one
  # through --console-socket.
  check_match "podman: run -dt a counter" '^[0-9a-f]{64}' pm run -d -t --name ckt --network none -v "$P/tick3:/tick" "$IMG" sh -c "$COUNTER"
  check_ok "podman: the terminal counter counts" grows_past "$P/tick3/log" 3
  check_ok "podman: checkpoint a terminal container" pm container checkpoint ckt
  [[ $RC == 0 ]] || show_criu_log "$P/root"
  at=$(lines "$P/tick3/log")
  check_ok "podman: restore a terminal container" pm container restore ckt
  [[ $RC == 0 ]] || show_criu_log "$P/root"
  check_ok "podman: the restored terminal counter counts on" grows_past "$P/tick3/log" $((at + 3))
  check_ok "podman: terminal counter: no gap, no restart" consecutive "$P/tick3/log"
  check_match "podman: the restored init's stdin is a pty" '/dev/pts/' pm exec ckt readlink /proc/1/fd/0
  check_ok "podman: rm -f the terminal container" pm rm -f -t 0 ckt
  check "podman: nothing left in the runtime's root" "" ls -A "$P/vroot"
  LOG_HINT=
}

# =============================================================================================
containerd_suite() {
  local C=$T/containerd
  mkdir -p "$C"/{root,state,vroot,tick}
  chmod 777 "$C/tick"
  local SOCK=$C/containerd.sock
  cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  level = "info"
[metrics]
  address = ""
EOF
  containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  export CONTAINERD_SNAPSHOTTER=native
  CTR=(ctr --address "$SOCK" --namespace ckpt)
  LOG_HINT=$C/containerd.log
  cx() { timeout 300 "${CTR[@]}" "$@"; }
  # ctr's unpack can race the import (tests/lib/e2e-checks.sh): retried.
  cx_run() { ctr_run_retrying "$C/ctr-run.err" cx run "$@"; }
  if ! wait_for 60 "${CTR[@]}" version; then
    fail "containerd: daemon starts" "no answer on $SOCK"; tail -n 20 "$C/containerd.log"; return
  fi
  pass "containerd: daemon starts"
  # The image: podman saves it as an OCI archive (podman's store is set up by podman_suite or here).
  if [[ -z ${PODMAN[*]:-} ]]; then
    local P=$T/podman-img
    mkdir -p "$P"
    PODMAN=(podman --root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp" --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
    timeout 300 "${PODMAN[@]}" import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" "$IMG" >/dev/null
  fi
  timeout 300 "${PODMAN[@]}" save --format oci-archive -o "$C/image.tar" "$IMG" >/dev/null
  check_match "containerd: import the image" 'vessel-ckpt' cx images import --index-name "$IMG" "$C/image.tar"
  check_ok "containerd: run -d a counter" cx_run -d --runc-binary "$VR" --runc-root "$C/vroot" \
    --mount "type=bind,src=$C/tick,dst=/tick,options=rbind:rw" "$IMG" c1 sh -c "$COUNTER"
  check_ok "containerd: the counter counts" grows_past "$C/tick/log" 3
  # A checkpoint image in containerd's content store with the task's CRIU images: containerd
  # pauses the task, the runtime dumps it with --leave-running, containerd resumes it.
  check_ok "containerd: ctr containers checkpoint --task" cx containers checkpoint --task c1 localhost/c1-ckpt:1
  [[ $RC == 0 ]] || { show_criu_log "$C"; grep -i 'error' "$C/containerd.log" | tail -n 5; }
  check_match "containerd: the checkpoint image is listed" 'c1-ckpt' cx images ls -q
  local at=$(lines "$C/tick/log")
  check_ok "containerd: the task runs on after the checkpoint" grows_past "$C/tick/log" $((at + 3))
  cx tasks kill -s SIGKILL c1 >/dev/null 2>&1 || true
  wait_for 60 sh -c "! $(printf '%q ' "${CTR[@]}") tasks ls | grep -q 'c1 .*RUNNING'" || true
  cx tasks rm -f c1 >/dev/null 2>&1 || true
  cx containers rm c1 >/dev/null 2>&1 || true
  # The original counted on after the checkpoint; the copy appends to the same file (which CRIU
  # may hold open in the dump, so it stays), from the value it had at the dump.
  at=$(lines "$C/tick/log")
  # `ctr containers restore --live` stays attached to the restored task: in the background.
  # ctr's unpack for the native snapshotter can race ("parent snapshot ... does not exist",
  # before any runtime call; tests/engines/run.sh retries it too): that error alone is retried.
  local restorer try
  for try in 1 2 3; do
    cx containers rm c1r >/dev/null 2>&1 || true
    timeout 600 "${CTR[@]}" containers restore --live c1r localhost/c1-ckpt:1 >"$C/restore.out" 2>&1 &
    restorer=$!
    wait_for 300 sh -c "$(printf '%q ' "${CTR[@]}") tasks ls | grep -q 'c1r.*RUNNING' || grep -q 'parent snapshot .* does not exist' '$C/restore.out'" || true
    grep -q 'parent snapshot .* does not exist' "$C/restore.out" || break
    wait "$restorer" 2>/dev/null || true
    sleep 1
  done
  if wait_for 5 sh -c "$(printf '%q ' "${CTR[@]}") tasks ls | grep -q 'c1r.*RUNNING'"; then
    pass "containerd: ctr containers restore --live"
  else
    OUT=$(cat "$C/restore.out") ERR= RC=1
    fail "containerd: ctr containers restore --live" "no running task c1r"
    show_criu_log "$C"; grep -i 'error' "$C/containerd.log" | tail -n 5
  fi
  check_ok "containerd: the restored counter counts on" grows_past "$C/tick/log" $((at + 3))
  check_ok "containerd: the copy went on from its dumped value (no restart, no gap)" \
    resumed_from_dump "$C/tick/log" "$at"
  check "containerd: exec into the restored task" "hi" cx tasks exec --exec-id e1 c1r sh -c 'sleep 0.2; echo hi'
  cx tasks kill -s SIGKILL c1r >/dev/null 2>&1 || true
  wait_for 60 sh -c "! $(printf '%q ' "${CTR[@]}") tasks ls | grep -q 'c1r.*RUNNING'" || true
  check_ok "containerd: rm the restored task" cx tasks rm -f c1r
  cx containers rm c1r >/dev/null 2>&1 || true
  kill "$restorer" 2>/dev/null || true  # it may have ended (errexit)
  wait "$restorer" 2>/dev/null || true
  LOG_HINT=
}

[[ -z $ONLY || $ONLY == podman ]] && podman_suite
[[ -z $ONLY || $ONLY == containerd ]] && containerd_suite
((FAILED == 0))
