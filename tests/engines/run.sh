#!/usr/bin/env bash
# End-to-end: podman and containerd (ctr) driving vessel-runtime as their OCI runtime.
#
#   tests/engines/run.sh [PATH/TO/vessel-runtime]      (default: build/bin/vessel-runtime)
#
# Needs root, podman and containerd (Debian's packages). Without them it skips (exit 0), unless
# VESSEL_E2E_REQUIRE=1, when it fails. Everything is private to one temporary directory: podman's
# root/runroot/tmpdir and containers.conf, containerd's root/state/sockets and config.toml, the
# runtime's --root, and a cgroup parent of our own. No network is used: the image is built from
# busybox-static, containers run with networking off (podman --network none; ctr's default is an
# empty network namespace), and the host's firewall is never touched. At the end the containers
# are removed, the daemons we started are stopped by PID, and the temporary directory is removed.
#
# Environment: VESSEL_E2E_REQUIRE=1 (missing tools fail instead of skipping), VESSEL_E2E_KEEP=1
# (keep the temporary directory for a post-mortem), VESSEL_E2E_ONLY=podman|containerd.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VR_ARG=${1:-build/bin/vessel-runtime}
REQUIRE=${VESSEL_E2E_REQUIRE:-0}
ONLY=${VESSEL_E2E_ONLY:-}
START_TIME=$SECONDS

skip_or_fail() {
  if [[ $REQUIRE == 1 ]]; then
    echo "engines e2e: FAIL: $* (VESSEL_E2E_REQUIRE=1)" >&2
    exit 1
  fi
  echo "engines e2e: SKIP: $*"
  exit 0
}

[[ $(id -u) == 0 ]] || skip_or_fail "needs root"
for tool in podman containerd ctr containerd-shim-runc-v2 conmon script; do
  command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed (apt-get install podman containerd)"
done
BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
  if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then BUSYBOX=$b; break; fi
done
[[ -n $BUSYBOX ]] || skip_or_fail "busybox-static is not installed"
[[ -x $VR_ARG ]] || { echo "engines e2e: FAIL: no runtime binary at $VR_ARG (build first)" >&2; exit 1; }
VR=$(realpath "$VR_ARG")

T=$(mktemp -d /tmp/vessel-e2e.XXXXXX)
chmod 755 "$T"
# Work from the temp dir: the engines' helpers drop files in their working directory (an
# empty "oom" marker appeared in the caller's directory after the OOM checks).
cd "$T"
TAG=$(basename "$T" | tr -c 'a-zA-Z0-9\n' '-')  # unique: names our cgroup parent and namespace
CGPARENT=/$TAG                                   # podman's --cgroup-parent (cgroupfs driver)
CONTAINERD_PID=

# Checks: each prints PASS or FAIL (tests/lib/e2e-checks.sh).
. "$REPO/tests/lib/e2e-checks.sh"

# Host-side assertions (they print what they found on failure).
file_is() { [[ -f $1 && $(cat "$1") == "$2" ]] || { echo "$1: '$(cat "$1" 2>&1)'"; return 1; }; }
no_cgroup_left() {  # no cgroup directory named after $1 in any hierarchy
  local found
  found=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -type d -name "*$1*" 2>/dev/null || true)
  [[ -z $found ]] || { echo "left: $found"; return 1; }
}
no_mount_left() {
  ! grep -F "$1" /proc/self/mountinfo || return 1
}
no_state_left() {  # $1: runtime --root, $2: id
  [[ ! -e $1/$2 ]] || { ls -la "$1/$2"; return 1; }
}
no_process_left() {  # no process whose command line mentions $1 (conmon, shim, container)
  # "[x]yz" matches "xyz" but not the grep command line that carries it.
  local re found
  re="[${1:0:1}]$(sed 's/[].[\\*^$()+?{|]/\\&/g' <<<"${1:1}")"
  found=$(grep -laE -- "$re" /proc/[0-9]*/cmdline 2>/dev/null || true)
  [[ -z $found ]] || { echo "processes: $found"; return 1; }
}
# counter_frozen FILE: the counter in FILE does not move for 0.6 s; counter_moves: it does.
counter_frozen() {
  local a b
  a=$(cat "$1"); sleep 0.6; b=$(cat "$1")
  [[ $a == "$b" ]] || { echo "counter moved $a -> $b"; return 1; }
}
counter_moves() {
  local a b
  a=$(cat "$1"); sleep 0.6; b=$(cat "$1")
  [[ $a != "$b" ]] || { echo "counter stuck at $a"; return 1; }
}

# ---------------------------------------------------------------------------------------------
# Cleanup: containers first (so their mounts and cgroups go), then our daemon by PID, then
# whatever our tag still names (shims, mounts, cgroups), then the directory.
cleanup() {
  local rc=$?
  set +e
  if [[ -n ${PODMAN[*]:-} ]]; then timeout 60 "${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1; fi
  if [[ -n $CONTAINERD_PID ]]; then
    local c
    for c in $(timeout 10 "${CTR[@]}" tasks ls -q 2>/dev/null); do
      timeout 10 "${CTR[@]}" tasks kill -s SIGKILL "$c" >/dev/null 2>&1
      timeout 10 "${CTR[@]}" tasks rm -f "$c" >/dev/null 2>&1
    done
    for c in $(timeout 10 "${CTR[@]}" containers ls -q 2>/dev/null); do
      timeout 10 "${CTR[@]}" containers rm "$c" >/dev/null 2>&1
    done
    kill "$CONTAINERD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$CONTAINERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$CONTAINERD_PID" 2>/dev/null
    wait "$CONTAINERD_PID" 2>/dev/null
  fi
  # Shims and conmons that our engines started and that outlived them (by PID, never by name).
  local f p
  for f in $(grep -laF -- "$T" /proc/[0-9]*/cmdline 2>/dev/null); do
    p=${f#/proc/}
    p=${p%/cmdline}
    [[ $p == "$$" ]] && continue
    grep -qaF -- "$T" "$f" 2>/dev/null && kill -9 "$p" 2>/dev/null
  done
  local m
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  local d
  for d in /sys/fs/cgroup/*/"$TAG" /sys/fs/cgroup/*/e2e-"$TAG"; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  if [[ ${VESSEL_E2E_KEEP:-0} == 1 ]]; then echo "kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "engines e2e: runtime $VR"
echo "engines e2e: $(podman --version), $(containerd --version | cut -d' ' -f1,3), work dir $T"

# ---------------------------------------------------------------------------------------------
# The image: busybox-static, one symlink per applet, a user e2e (1000:1000). No network.
ROOTFS=$T/rootfs
busybox_image "$ROOTFS" "$BUSYBOX" "$T/rootfs.tar" e2e:1000
IMG=localhost/vessel-e2e:latest

# The loop a detached container runs: a counter in /tick/n (bind-mounted from the host) that
# moves every 0.1 s, and "got-TERM" in /tick/term, exit 7, on SIGTERM.
TICKER='trap "echo got-TERM > /tick/term; exit 7" TERM; n=0; while :; do n=$((n+1)); echo $n > /tick/n; sleep 0.1 & wait $!; done'
# A 32 MiB string built by doubling: about 100 MiB at its peak; killed under a 20 MiB limit.
HOG='BEGIN { s = "x"; for (i = 0; i < 25; i++) s = s s; print length(s) }'
# Forks 12 sleepers: with a pids limit of 8 some forks fail.
FORKER='for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; echo forked'

# =============================================================================================
# podman
# =============================================================================================
P=$T/podman
podman_setup() {
  mkdir -p "$P"/{vol,tick}
  # This host has no CAP_SYS_RESOURCE and a hard RLIMIT_NOFILE of 20000: podman's default
  # rlimits (1048576) cannot be set there, so pin them.
  podman_private "$P" "$VR" 'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]'
  pm() { timeout 60 "${PODMAN[@]}" "$@"; }
  prun() { pm run --network none --cgroup-parent "$CGPARENT" "$@"; }

  check_match "podman: import the busybox image" '^sha256:' pm import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" "$IMG"
}

podman_suite() {
  LOG_HINT=$P/runtime-calls.log

  # A command and its output; the exit status.
  check "podman: run prints stdout" "hello" prun --rm "$IMG" echo hello
  check_match "podman: run --tty" '^/dev/pts/[0-9]+' prun --rm -t "$IMG" tty
  check_rc "podman: exit status propagates" 42 prun --rm "$IMG" sh -c 'exit 42'
  # The process's settings.
  check "podman: --env" "bar" prun --rm -e FOO=bar "$IMG" sh -c 'echo $FOO'
  check "podman: --workdir" "/tmp" prun --rm -w /tmp "$IMG" pwd
  check "podman: --hostname" "e2e-host" prun --rm --hostname e2e-host "$IMG" hostname
  check "podman: --user uid:gid" "1000:1000" prun --rm --user 1000:1000 "$IMG" sh -c 'echo $(id -u):$(id -g)'
  check "podman: --user by name" "e2e 1000 /home/e2e" prun --rm --user e2e "$IMG" sh -c 'echo $(id -un) $(id -g) $HOME'

  # A detached container: exec (with and without a tty), pause/unpause, stop.
  check_match "podman: run --detach" '^[0-9a-f]{64}' prun -d --name vd -v "$P/tick:/tick:rw" "$IMG" sh -c "$TICKER"
  check_ok "podman: detached container ticks" wait_for 10 test -s "$P/tick/n"
  check "podman: exec" "hi" pm exec vd echo hi
  check_rc "podman: exec exit status propagates" 3 pm exec vd sh -c 'exit 3'
  check "podman: exec --env --workdir" "1 /tmp" pm exec -e X=1 -w /tmp vd sh -c 'echo $X $(pwd)'
  check "podman: exec --user" "1000" pm exec --user 1000 vd id -u
  check "podman: exec without a tty" "not a tty" pm exec vd sh -c 'tty || true'
  check_match "podman: exec --tty" '^/dev/pts/[0-9]+' pm exec -t vd tty
  check_ok "podman: pause" pm pause vd
  check "podman: paused state" "paused" pm inspect -f '{{.State.Status}}' vd
  check_ok "podman: paused container is frozen" counter_frozen "$P/tick/n"
  check_ok "podman: unpause" pm unpause vd
  check "podman: running state after unpause" "running" pm inspect -f '{{.State.Status}}' vd
  check_ok "podman: unpaused container moves" counter_moves "$P/tick/n"
  local t0=$SECONDS
  check_ok "podman: stop (SIGTERM)" pm stop -t 20 vd
  if ((SECONDS - t0 < 10)); then pass "podman: stop took SIGTERM, not the SIGKILL after the timeout"; else
    fail "podman: stop took SIGTERM, not the SIGKILL after the timeout" "took $((SECONDS - t0)) s"; fi
  check "podman: the program saw SIGTERM" "got-TERM" cat "$P/tick/term"
  check "podman: exit status after stop" "7" pm inspect -f '{{.State.ExitCode}}' vd
  check_ok "podman: rm" pm rm vd

  prun -d --name vk "$IMG" sleep 300 >/dev/null || true
  check_ok "podman: kill" pm kill vk
  check_ok "podman: killed container exits" wait_for 10 sh -c "test \"\$(${PODMAN[*]} inspect -f '{{.State.Status}}' vk)\" = exited"
  check "podman: exit status after kill (SIGKILL)" "137" pm inspect -f '{{.State.ExitCode}}' vk
  prun -d --name vk2 "$IMG" sh -c 'trap "exit 10" USR1; while :; do sleep 0.1 & wait $!; done' >/dev/null || true
  check_ok "podman: kill --signal USR1" pm kill --signal USR1 vk2
  check_ok "podman: USR1 reached the program" wait_for 10 sh -c "test \"\$(${PODMAN[*]} inspect -f '{{.State.Status}}' vk2)\" = exited"
  check "podman: exit status after USR1" "10" pm inspect -f '{{.State.ExitCode}}' vk2
  pm rm -f vk vk2 >/dev/null 2>&1 || true

  # A host folder mounted read-write keeps what the container wrote; its rootfs writes go.
  check "podman: write to a bind mount and to the rootfs" "written" prun --name vw -v "$P/vol:/data:rw" "$IMG" \
    sh -c 'echo kept > /data/f && echo lost > /etc/rootfs-write && echo written'
  check_ok "podman: rm the writer" pm rm vw
  check_ok "podman: the host folder keeps the container's file" file_is "$P/vol/f" kept
  check "podman: a new container does not see the old one's rootfs writes" "absent" \
    prun --rm "$IMG" sh -c 'cat /etc/rootfs-write 2>/dev/null || echo absent'

  # --read-only: the rootfs refuses writes; podman's tmpfs on /tmp (tmpcopyup) takes them.
  check "podman: --read-only" "read-only tmp-ok" prun --rm --read-only "$IMG" \
    sh -c 'echo $(touch /x 2>/dev/null && echo writable || echo read-only) $(touch /tmp/y && echo tmp-ok)'
  # --tmpfs (tmpcopyup): the tmpfs starts with what the image had there.
  check "podman: --tmpfs keeps the image's files (tmpcopyup)" "e2e:x:1000:" prun --rm --tmpfs /etc "$IMG" grep e2e /etc/group

  # Limits.
  check "podman: memory limit set" "20971520" prun --rm --memory 20m "$IMG" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
  check "podman: without a limit the memory hog finishes" "33554432" prun --rm "$IMG" awk "$HOG"
  check_rc "podman: memory limit in force (OOM kill)" 137 prun --rm --memory 20m --memory-swap 20m "$IMG" awk "$HOG"
  check "podman: pids limit set" "8" prun --rm --pids-limit 8 "$IMG" cat /sys/fs/cgroup/pids/pids.max
  check_match "podman: pids limit in force" "can't fork" prun --rm --pids-limit 8 "$IMG" sh -c "$FORKER"
  # Capabilities.
  check "podman: --cap-drop ALL empties the sets" "0000000000000000 0000000000000000" prun --rm --cap-drop ALL "$IMG" \
    sh -c 'echo $(grep CapEff /proc/self/status | cut -f2) $(grep CapBnd /proc/self/status | cut -f2)'
  check_match "podman: --cap-drop ALL: chown is refused" "Operation not permitted" prun --rm --cap-drop ALL "$IMG" \
    sh -c 'touch /tmp/f && chown 1000 /tmp/f'
  check "podman: default caps allow chown" "ok" prun --rm "$IMG" sh -c 'touch /tmp/f && chown 1000 /tmp/f && echo ok'

  # --rm leaves nothing behind: no container, no runtime state, cgroup, mount or process.
  check "podman: run --rm" "done" prun --rm --name vrm --cidfile "$P/vrm.cid" "$IMG" echo done
  local cid
  cid=$(cat "$P/vrm.cid" 2>/dev/null || echo missing-cid)
  check_rc "podman: --rm: no container" 1 pm container exists vrm
  check_ok "podman: --rm: no runtime state" no_state_left "$P/vroot" "$cid"
  check_ok "podman: --rm: no cgroup" no_cgroup_left "$cid"
  check_ok "podman: --rm: no mount" no_mount_left "$cid"
  check_ok "podman: --rm: no process" no_process_left "$cid"
  check "podman: nothing left in the runtime's root" "" ls -A "$P/vroot"
  LOG_HINT=
}

# =============================================================================================
# containerd
# =============================================================================================
containerd_suite() {
  local C=$T/containerd
  mkdir -p "$C"/{root,state,vroot,vol,tick}
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
  address = "$C/debug.sock"
  level = "info"
[metrics]
  address = ""
EOF
  containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  export CONTAINERD_SNAPSHOTTER=native  # works on any filesystem, overlay included
  CTR=(ctr --address "$SOCK" --namespace "e2e-$TAG")
  LOG_HINT=$C/containerd.log
  cx() { timeout 60 "${CTR[@]}" "$@"; }
  crun() { ctr_run_retrying "$C/ctr-run.err" cx run --runc-binary "$VR" --runc-root "$C/vroot" "$@"; }
  if ! wait_for 20 "${CTR[@]}" version; then
    fail "containerd: daemon starts" "no answer on $SOCK"
    tail -n 20 "$C/containerd.log"
    return
  fi
  pass "containerd: daemon starts"

  timeout 60 "${PODMAN[@]}" save --format oci-archive -o "$C/image.tar" "$IMG" >/dev/null 2>&1 ||
    timeout 60 "${PODMAN[@]}" save --format oci-archive -o "$C/image.tar" "$IMG"
  check_match "containerd: import the image" 'vessel-e2e' cx images import --index-name "$IMG" "$C/image.tar"
  check_match "containerd: image listed" 'vessel-e2e' cx images ls -q

  # The first run after an import once failed with "parent snapshot ... does not exist" (ctr
  # unpacking for the native snapshotter while the import's lease settles); one warm-up run,
  # retried, keeps that out of the checks below, which all need the snapshot.
  for _ in 1 2 3; do
    crun --rm "$IMG" c-warmup true >/dev/null 2>&1 && break
    sleep 1
  done
  # A command and its output; the exit status.
  check "containerd: run prints stdout" "hello" crun --rm "$IMG" c-stdout echo hello
  # ctr's -t needs a terminal on its side: script(1) gives it one.
  check_match "containerd: run --tty" '/dev/pts/[0-9]+' timeout 60 script -qec \
    "$(printf '%q ' "${CTR[@]}" run --runc-binary "$VR" --runc-root "$C/vroot" --rm -t "$IMG" c-tty tty)" /dev/null
  check_rc "containerd: exit status propagates" 42 crun --rm "$IMG" c-exit sh -c 'exit 42'
  check "containerd: --env" "bar" crun --rm --env FOO=bar "$IMG" c-env sh -c 'echo $FOO'
  check "containerd: --cwd" "/tmp" crun --rm --cwd /tmp "$IMG" c-cwd pwd
  # ctr run has no --hostname, --user or pids flag: a spec file of our own (--config) sets them.
  write_spec "$C/spec-ids.json" '"sh", "-c", "echo $(hostname) $(id -u):$(id -g)"' ''
  check "containerd: hostname and user from the spec" "e2e-host 1000:1000" crun --rm --config "$C/spec-ids.json" c-ids
  write_spec "$C/spec-pids.json" '"cat", "/sys/fs/cgroup/pids/pids.max"' '"pids": {"limit": 8}'
  check "containerd: pids limit set" "8" crun --rm --config "$C/spec-pids.json" c-pids
  write_spec "$C/spec-fork.json" "\"sh\", \"-c\", \"$FORKER\"" '"pids": {"limit": 8}'
  check_match "containerd: pids limit in force" "can't fork" crun --rm --config "$C/spec-fork.json" c-fork

  # A detached container: exec (with and without a tty), pause/resume, SIGTERM, SIGKILL.
  check_ok "containerd: run --detach" crun -d --mount "type=bind,src=$C/tick,dst=/tick,options=rbind:rw" \
    "$IMG" c-det sh -c "$TICKER"
  check_ok "containerd: detached container ticks" wait_for 10 test -s "$C/tick/n"
  # A short sleep before a fast exec's output: ctr attaches to the process's FIFOs after the
  # shim starts it, and under load it can miss what a process writes and exits at once.
  check "containerd: task exec" "hi" cx tasks exec --exec-id e1 c-det sh -c 'sleep 0.2; echo hi'
  check_rc "containerd: exec exit status propagates" 3 cx tasks exec --exec-id e2 c-det sh -c 'exit 3'
  check "containerd: exec --cwd --user" "/tmp 1000" cx tasks exec --exec-id e3 --cwd /tmp --user 1000 c-det \
    sh -c 'sleep 0.2; echo $(pwd) $(id -u)'
  check "containerd: exec without a tty" "not a tty" cx tasks exec --exec-id e4 c-det sh -c 'sleep 0.2; tty || true'
  check_match "containerd: exec --tty" '/dev/pts/[0-9]+' timeout 60 script -qec \
    "$(printf '%q ' "${CTR[@]}" tasks exec -t --exec-id e5 c-det tty)" /dev/null
  check_match "containerd: tasks ps (runtime ps --format json)" $'\n[0-9]+ +-' cx tasks ps c-det
  check_ok "containerd: pause" cx tasks pause c-det
  check_match "containerd: paused state" 'c-det +[0-9]+ +PAUSED' cx tasks ls
  check_ok "containerd: paused container is frozen" counter_frozen "$C/tick/n"
  check_ok "containerd: resume" cx tasks resume c-det
  check_match "containerd: running state after resume" 'c-det +[0-9]+ +RUNNING' cx tasks ls
  check_ok "containerd: resumed container moves" counter_moves "$C/tick/n"
  check_ok "containerd: kill (SIGTERM)" cx tasks kill c-det
  check_ok "containerd: task stops on SIGTERM" wait_for 10 sh -c "$(printf '%q ' "${CTR[@]}") tasks ls | grep -Eq 'c-det +[0-9]+ +STOPPED'"
  check "containerd: the program saw SIGTERM" "got-TERM" cat "$C/tick/term"
  # ctr tasks rm exits 0 whatever the status; it reports a non-zero one as a warning.
  check_match "containerd: exit status after SIGTERM" 'exit code 7"' cx tasks rm c-det
  cx containers rm c-det >/dev/null 2>&1 || true

  crun -d "$IMG" c-kill sleep 300 >/dev/null 2>&1 || true
  check_ok "containerd: kill -s SIGKILL" cx tasks kill -s SIGKILL c-kill
  check_ok "containerd: task stops on SIGKILL" wait_for 10 sh -c "$(printf '%q ' "${CTR[@]}") tasks ls | grep -Eq 'c-kill +[0-9]+ +STOPPED'"
  check_match "containerd: exit status after SIGKILL" 'exit code 137"' cx tasks rm c-kill
  cx containers rm c-kill >/dev/null 2>&1 || true

  # A host folder mounted read-write keeps what the container wrote; its rootfs writes go.
  check "containerd: write to a bind mount and to the rootfs" "written" \
    crun --rm --mount "type=bind,src=$C/vol,dst=/data,options=rbind:rw" "$IMG" c-vol \
    sh -c 'echo kept > /data/f && echo lost > /etc/rootfs-write && echo written'
  check_ok "containerd: the host folder keeps the container's file" file_is "$C/vol/f" kept
  check "containerd: a new container does not see the old one's rootfs writes" "absent" \
    crun --rm "$IMG" c-vol2 sh -c 'cat /etc/rootfs-write 2>/dev/null || echo absent'

  check "containerd: --read-only" "read-only" crun --rm --read-only "$IMG" c-ro \
    sh -c 'touch /x 2>/dev/null && echo writable || echo read-only'

  # Limits and capabilities.
  # ctr's default spec mounts no cgroupfs in the container: read the limit from the host.
  crun -d --memory-limit 20971520 "$IMG" c-memv sleep 60 >/dev/null 2>&1 || true
  check "containerd: memory limit set" "20971520" host_cgroup_file c-memv memory memory.limit_in_bytes
  cx tasks kill -s SIGKILL c-memv >/dev/null 2>&1 || true
  wait_for 10 sh -c "$(printf '%q ' "${CTR[@]}") tasks ls | grep -Eq 'c-memv +[0-9]+ +STOPPED'" || true
  cx tasks rm c-memv >/dev/null 2>&1 || true
  cx containers rm c-memv >/dev/null 2>&1 || true
  check_rc "containerd: memory limit in force (OOM kill)" 137 crun --rm --memory-limit 20971520 "$IMG" c-mem awk "$HOG"
  # ctr 1.6 has no "ALL": drop every capability by name.
  local DROP_ALL=() cap
  for cap in $CAPS_ALL; do DROP_ALL+=(--cap-drop "CAP_$cap"); done
  check "containerd: --cap-drop ALL empties the sets" "0000000000000000 0000000000000000" \
    crun --rm "${DROP_ALL[@]}" "$IMG" c-caps \
    sh -c 'echo $(grep CapEff /proc/self/status | cut -f2) $(grep CapBnd /proc/self/status | cut -f2)'
  check_match "containerd: --cap-drop ALL: chown is refused" "Operation not permitted" \
    crun --rm "${DROP_ALL[@]}" "$IMG" c-chown sh -c 'touch /tmp/f && chown 1000 /tmp/f'

  # --rm leaves nothing behind.
  check "containerd: run --rm" "done" crun --rm "$IMG" c-rm echo done
  check "containerd: --rm: no container" "" sh -c "$(printf '%q ' "${CTR[@]}") containers ls -q | grep -x c-rm || true"
  check "containerd: --rm: no snapshot" "" sh -c "$(printf '%q ' "${CTR[@]}") snapshots ls | grep -w c-rm || true"
  check_ok "containerd: --rm: no runtime state" no_state_left "$C/vroot/e2e-$TAG" c-rm
  check_ok "containerd: --rm: no cgroup" no_cgroup_left c-rm
  check_ok "containerd: --rm: no mount" no_mount_left "/c-rm/"
  check_ok "containerd: --rm: no shim" no_process_left "c-rm"
  check "containerd: no task left" "" cx tasks ls -q
  LOG_HINT=
}

CAPS_ALL="CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
  SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
  SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
  WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"

# host_cgroup_file ID CONTROLLER FILE: FILE of the cgroup v1 CONTROLLER of containerd task ID.
host_cgroup_file() {
  local pid path
  pid=$(timeout 10 "${CTR[@]}" tasks ls | awk -v id="$1" '$1 == id {print $2}')
  [[ -n $pid ]] || { echo "no task $1" >&2; return 1; }
  path=$(awk -F: -v c="$2" '$2 == c {print $3}' "/proc/$pid/cgroup")
  cat "/sys/fs/cgroup/$2$path/$3"
}

# write_spec FILE ARGS RESOURCES: a spec for ctr --config that runs ARGS (JSON strings) as
# 1000:1000 with hostname e2e-host, in a read-only copy of our rootfs, with linux.resources
# RESOURCES (JSON members).
write_spec() {
  cat >"$1" <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 1000, "gid": 1000},
    "args": [$2],
    "env": ["PATH=/bin", "HOME=/home/e2e"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
      "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
      "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "$ROOTFS", "readonly": true},
  "hostname": "e2e-host",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
  ],
  "linux": {
    "resources": {${3}},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
EOF
}

# =============================================================================================
PODMAN=()
CTR=()
# The containerd suite imports the image podman built, so podman is always set up.
podman_setup
if [[ -z $ONLY || $ONLY == podman ]]; then podman_suite; fi
if [[ -z $ONLY || $ONLY == containerd ]]; then containerd_suite; fi

echo
echo "engines e2e: $PASSED passed, $FAILED failed, $((SECONDS - START_TIME)) s"
for f in "${FAILURES[@]}"; do echo "  failed: $f"; done
((FAILED == 0))
