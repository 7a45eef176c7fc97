#!/bin/bash
# Runs the systemd cgroup driver's integration tests (gtest filter 'Systemd*') against a real
# systemd: in a throw-away pure cgroup v2 VM (../shared/tools/v2vm, with systemd and dbus
# added), systemd is started as PID 1 of a new pid + mount + cgroup namespace, and the tests run
# in its namespaces so that vessel-runtime reaches /run/systemd/private.
#
# Builds nothing: it uses an existing build (BUILD=build by default, relative to the repository).
#   tests/systemd/run-in-v2vm.sh                       # every Systemd* test
#   BUILD=build-sd tests/systemd/run-in-v2vm.sh --gtest_filter='SystemdCgroupTest.*'
# Environment: BUILD, V2VM_TOOL (path of the v2vm tool), V2VM_CACHE (default
# /var/cache/v2vm-systemd), V2VM_TIMEOUT (seconds, default 1200),
# KEEP_SYSTEMD_LOG=1 (print systemd's log even on success).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac

if [ "${V2VM:-}" != 1 ]; then
  . "$repo/tests/lib/v2vm-libs.sh"
  v2vm_run_self systemd systemd,dbus 1200 "$repo/tests/systemd/run-in-v2vm.sh" "vessel-runtime vessel-integration-tests" --env KEEP_SYSTEMD_LOG="${KEEP_SYSTEMD_LOG:-}" -- "$@"
fi

# In the guest, as root. ---------------------------------------------------------------------
log=/tmp/systemd.log
cg=/sys/fs/cgroup/vessel-systemd  # systemd's cgroup namespace root
mkdir -p "$cg"

# A target that pulls in nothing: only the manager is wanted, not gettys or journald.
mkdir -p /etc/systemd/system
cat >/etc/systemd/system/vessel-test.target <<'EOF'
[Unit]
Description=vessel systemd driver tests
EOF

# pid + mount namespace (unshare forks: its child is PID 1 there), then that child moves into
# the fresh cgroup, makes a cgroup namespace rooted there, mounts its own cgroup2 (showing that
# root) and a private /run, and becomes systemd. The unshare parent stays outside, so the
# namespace's root cgroup holds only systemd (cgroup v2 forbids processes next to children
# that have controllers).
unshare --pid --fork --mount --mount-proc --propagation private -- sh -c "
  echo 0 > $cg/cgroup.procs &&
  exec unshare --cgroup -- sh -c '
    umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup &&
    mount -t tmpfs -o mode=755 tmpfs /run &&
    exec env container=vessel /lib/systemd/systemd --system --unit=vessel-test.target \
      --log-target=console --log-level=info'" >"$log" 2>&1 &
unshare_pid=$!

systemd_pid=
for _ in $(seq 1 600); do
  systemd_pid=$(cat /proc/$unshare_pid/task/$unshare_pid/children 2>/dev/null | awk '{print $1}')
  if [ -n "$systemd_pid" ] &&
    nsenter -t "$systemd_pid" -m -- test -S /run/systemd/private 2>/dev/null &&
    nsenter -t "$systemd_pid" -m -p -C -- systemctl show -p Version >/dev/null 2>&1; then
    break
  fi
  systemd_pid=
  sleep 0.2
done
if [ -z "$systemd_pid" ]; then
  echo "run-in-v2vm: systemd did not come up; its log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "run-in-v2vm: systemd is PID 1 of its namespaces (host PID $systemd_pid):" \
  "$(nsenter -t "$systemd_pid" -m -p -C -- systemctl show -p Version --value)," \
  "state $(nsenter -t "$systemd_pid" -m -p -C -- systemctl is-system-running 2>&1 || true)"

# The tests must sit inside systemd's cgroup namespace: with nsdelegate, systemd may only move
# processes (the containers' inits, children of vessel-runtime) between cgroups inside it. So
# this shell moves below systemd's root first (from the initial namespace), then enters.
mkdir -p "$cg/vessel-tests"
echo $$ >"$cg/vessel-tests/cgroup.procs"

status=0
nsenter -t "$systemd_pid" -m -p -C -- env LD_LIBRARY_PATH="$LIBS" \
  "$BUILD/bin/vessel-integration-tests" --gtest_filter='Systemd*' "$@" || status=$?

echo "run-in-v2vm: units left in system.slice:"
nsenter -t "$systemd_pid" -m -p -C -- systemctl list-units --all --no-legend 'vessel-*' || true
if [ "$status" != 0 ] || [ -n "${KEEP_SYSTEMD_LOG:-}" ]; then
  echo "run-in-v2vm: systemd's log:"
  tail -n 200 "$log"
fi
kill -TERM "$systemd_pid" 2>/dev/null || true
exit "$status"
