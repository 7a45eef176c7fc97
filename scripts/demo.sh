#!/usr/bin/env bash
# The demo: `vessel run` on the built-in busybox template (made from the host's busybox-static
# on first use, no network), then a detached container with logs, exec and stop.
set -euo pipefail
VESSEL=${VESSEL:-vessel}
root=$(mktemp -d /tmp/vessel-demo.XXXXXX)
V() { "$VESSEL" --root "$root/store" "$@"; }
cleanup() {
  V rm -f demo-web >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT

echo "+ vessel run --rm busybox sh -c 'hostname; id; echo \$\$'"
V run --rm busybox sh -c 'echo "hostname: $(hostname)"; echo "id: $(id)"; echo "pid: $$"'

echo "+ vessel run -d --name demo-web busybox (a loop printing ticks)"
V run -d --name demo-web -m 64m --pids-limit 20 busybox \
  sh -c 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done' >/dev/null
sleep 1
echo "+ vessel ps"; V ps
echo "+ vessel logs --tail 2 demo-web"; V logs --tail 2 demo-web
echo "+ vessel exec demo-web cat /sys/fs/cgroup/pids/pids.max (or pids.max on cgroup v2)"
V exec demo-web sh -c 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max'
echo "+ vessel stop demo-web && vessel rm demo-web"
V stop -t 1 demo-web >/dev/null && V rm demo-web >/dev/null
echo "+ vessel run --rm busybox sh -c 'exit 7'   (the exit code comes back)"
set +e
V run --rm busybox sh -c 'exit 7'
code=$?
set -e
echo "container exited with status $code"
[ "$code" -eq 7 ]
