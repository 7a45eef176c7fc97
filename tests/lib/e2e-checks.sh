# Sourced by the end-to-end shell suites (tests/engines/run.sh, tests/criu/engines-in-v2vm.sh):
# each check prints PASS or FAIL, and a failure shows what came back and, where LOG_HINT names a
# file, its last lines (the runtime's recent calls). Needs $T, a scratch folder of the suite's.
PASSED=0
FAILED=0
FAILURES=()
OUT= ERR= RC=0
LOG_HINT=

run_cmd() {
  CHECK_T0=$(date +%s%N)
  OUT=$("$@" 2>"$T/.stderr") && RC=0 || RC=$?
  OUT=${OUT//$'\r'/}
  ERR=$(cat "$T/.stderr")
}

pass() {
  PASSED=$((PASSED + 1))
  printf 'PASS  %s (%s ms)\n' "$1" "$(( ($(date +%s%N) - ${CHECK_T0:-$(date +%s%N)}) / 1000000 ))"
  CHECK_T0=
}

fail() {
  FAILED=$((FAILED + 1))
  FAILURES+=("$1")
  printf 'FAIL  %s: %s\n' "$1" "$2"
  printf '      stdout: %s\n' "$(head -c 1500 <<<"$OUT" | sed '2,$s/^/              /')"
  printf '      stderr: %s\n' "$(head -c 3000 <<<"$ERR" | sed '2,$s/^/              /')"
  printf '      status: %s\n' "$RC"
  if [[ -n $LOG_HINT && -s $LOG_HINT ]]; then
    echo "      last runtime calls ($LOG_HINT):"
    tail -n 6 "$LOG_HINT" | cut -c1-400 | sed 's/^/        /'
  fi
}

# check NAME EXPECTED CMD...: CMD succeeds and its stdout (trimmed) is EXPECTED.
check() {
  local name=$1 want=$2
  shift 2
  run_cmd "$@"
  local got
  got=$(sed -e 's/[[:space:]]*$//' <<<"$OUT")
  if [[ $RC == 0 && $got == "$want" ]]; then pass "$name"; else fail "$name" "expected '$want', status 0"; fi
}

# check_rc NAME STATUS CMD...: CMD exits with STATUS.
check_rc() {
  local name=$1 want=$2
  shift 2
  run_cmd "$@"
  if [[ $RC == "$want" ]]; then pass "$name"; else fail "$name" "expected status $want"; fi
}

# check_match NAME REGEX CMD...: CMD's stdout+stderr matches REGEX (any exit status).
check_match() {
  local name=$1 re=$2
  shift 2
  run_cmd "$@"
  if [[ "$OUT"$'\n'"$ERR" =~ $re ]]; then pass "$name"; else fail "$name" "expected output matching /$re/"; fi
}

# check_ok NAME CMD...: CMD succeeds (used with host-side assertions).
check_ok() {
  local name=$1
  shift
  run_cmd "$@"
  if [[ $RC == 0 ]]; then pass "$name"; else fail "$name" "expected success"; fi
}

# wait_for TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# busybox_image ROOTFS BUSYBOX TAR [USER:UID]...: a root filesystem of BUSYBOX (static), one
# symlink per applet, root (and each USER with a home) in /etc/passwd, packed into TAR.
busybox_image() {
  local rootfs=$1 busybox=$2 tar=$3 applet user
  shift 3
  mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root,var,run}
  cp "$busybox" "$rootfs/bin/busybox"
  for applet in $("$busybox" --list); do
    [[ $applet == busybox || -e $rootfs/bin/$applet ]] || ln -s busybox "$rootfs/bin/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' >"$rootfs/etc/group"
  for user in "$@"; do
    local name=${user%%:*} id=${user##*:}
    mkdir -p "$rootfs/home/$name"
    echo "$name:x:$id:$id:$name:/home/$name:/bin/sh" >>"$rootfs/etc/passwd"
    echo "$name:x:$id:" >>"$rootfs/etc/group"
    chown "$id:$id" "$rootfs/home/$name"
  done
  chmod 1777 "$rootfs/tmp"
  tar -C "$rootfs" -cf "$tar" .
}

# podman_private DIR RUNTIME [CONTAINERS_LINE]...: a podman whose root, runroot, tmpdir,
# configuration, events and storage (vfs) are all under DIR, with RUNTIME as its OCI runtime
# through a two-line wrapper: podman passes --root to the runtime only when rootless, and the
# cleanup process it starts after a container exits does not get --runtime-flag, so the wrapper
# pins the runtime's state to DIR/vroot and records each call in DIR/runtime-calls.log (the
# failure reports show its tail). Each CONTAINERS_LINE goes into containers.conf's
# [containers]. Sets PODMAN (the command, an array) and exports CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF.
podman_private() {
  local p=$1 runtime=$2 line
  shift 2
  mkdir -p "$p"/{root,runroot,tmp,vroot,bin}
  cat >"$p/bin/vessel-runtime" <<WRAPPER
#!/bin/sh
echo "\$(date +%T.%N) \$*" >>"$p/runtime-calls.log"
exec "$runtime" --root "$p/vroot" "\$@"
WRAPPER
  chmod +x "$p/bin/vessel-runtime"
  LOG_HINT=$p/runtime-calls.log
  {
    echo '[containers]'
    for line in "$@"; do echo "$line"; done
    echo 'netns = "none"'
    echo 'log_driver = "k8s-file"'
    echo
    echo '[engine]'
    echo 'cgroup_manager = "cgroupfs"'
    echo 'events_logger = "file"'
    echo "events_logfile_path = \"$p/events.log\""
  } >"$p/containers.conf"
  printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/root"\nrunroot = "%s/runroot"\n' "$p" "$p" \
    >"$p/storage.conf"
  export CONTAINERS_CONF=$p/containers.conf CONTAINERS_STORAGE_CONF=$p/storage.conf
  PODMAN=(podman --root "$p/root" --runroot "$p/runroot" --tmpdir "$p/tmp" --storage-driver vfs
    --cgroup-manager cgroupfs --events-backend file --runtime "$p/bin/vessel-runtime")
}

# ctr_run_retrying ERRFILE CMD...: CMD is a `ctr run`. ctr's own unpack for the native snapshotter
# can race the import's lease ("parent snapshot ... does not exist", before any runtime call):
# that containerd error alone is retried, twice.
ctr_run_retrying() {
  local err=$1 try rc
  shift
  for try in 1 2 3; do
    "$@" 2>"$err" && rc=0 || rc=$?
    if ((rc != 0)) && grep -q 'parent snapshot .* does not exist' "$err" && ((try < 3)); then
      sleep 1
      continue
    fi
    cat "$err" >&2
    return $rc
  done
}
