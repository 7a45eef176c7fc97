#!/usr/bin/env bash
# Rootless vessel with a delegated cgroup v2 subtree, on a pure cgroup v2 kernel: run on the
# host as root, it boots /work/shared/tools/v2vm (README-v2vm.md) and runs itself inside with
# --guest. In the guest: a throw-away user with subordinate ids, a cgroup directory chowned
# to it (as systemd's Delegate=yes does) with the user's shell in a leaf below it, then
# `vessel run -m/--cpus/--pids-limit` as that user; the limits must show in the container's
# cgroup, which vessel made below the delegated one. Exit status 0 when they do.
#   scripts/rootless-cgroups-v2.sh [BUILD_DIR]      (make rootless-cgroups-v2)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != --guest ]; then
  build=${1:-build}
  # The guest is a Debian minbase of the same release: the shared libraries vessel links go
  # along (LD_LIBRARY_PATH in the guest) instead of a guest image of its own.
  . "$PWD/tests/lib/v2vm-libs.sh"
  v2vm_copy_libs "$build/v2vm-libs" "$build/bin/vessel" "$build/bin/vessel-monitor-ctl"
  exec /work/shared/tools/v2vm --timeout 300 -- "$PWD/scripts/rootless-cgroups-v2.sh" --guest "$build"
fi
build=$2
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || { echo "not cgroup v2" >&2; exit 1; }
user=vrlcg
work=/var/tmp/vessel-rlcg
cg=/sys/fs/cgroup/vessel-rlcg
cleanup() {
  for p in $(pgrep -u "$user" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  userdel "$user" 2>/dev/null || true
  rm -rf "$work"
  echo $$ > /sys/fs/cgroup/cgroup.procs 2>/dev/null || true
  rmdir "$cg/shell" "$cg" 2>/dev/null || true
}
trap cleanup EXIT
useradd -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 --no-create-home --home-dir "$work/home" "$user"
usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$user"
mkdir -p "$work/home" "$work/run" "$work/bin" "$work/lib"
cp "$build"/v2vm-libs/* "$work/lib/" 2>/dev/null || true   # only when booted by v2vm
cp "$build"/bin/vessel "$build"/bin/vessel-monitor-ctl "$build"/bin/vessel-monitor "$build"/bin/vessel-init "$work/bin/"
chown "$user:" "$work/home" "$work/run"
chmod 700 "$work/run"
chmod 755 "$work" "$work/bin" "$work/lib"
# The delegated subtree: the directory and its writable interface files are the user's.
mkdir "$cg" "$cg/shell"
echo "+memory +pids +cpu" > "$cg/cgroup.subtree_control"
chown "$user:" "$cg" "$cg/cgroup.procs" "$cg/cgroup.subtree_control" "$cg/cgroup.threads" \
  "$cg/shell" "$cg/shell/cgroup.procs"
as_user() {
  setpriv --reuid "$user" --regid "$user" --clear-groups env -i PATH=/usr/bin:/bin \
    LD_LIBRARY_PATH="$work/lib" \
    HOME="$work/home" XDG_RUNTIME_DIR="$work/run" "$work/bin/vessel" "$@"
}
echo $$ > "$cg/shell/cgroup.procs"
as_user --storage-driver vfs template build busybox >/dev/null
as_user --storage-driver vfs run -d --name lim -m 32m --cpus 0.5 --pids-limit 20 busybox sleep 60 2>"$work/err"
if grep -q "ignored" "$work/err"; then cat "$work/err"; exit 1; fi
id=$(as_user inspect -f '{{.Id}}' lim)
c="$cg/vessel-$id"
echo "container cgroup: $c"
if [ ! -d "$c" ]; then
  echo "no cgroup $c; the runtime said:" >&2
  cat "$work/home/.local/share/vessel/containers/$id"/*.log "$work/err" >&2 2>/dev/null || true
  ls -la "$cg" >&2
fi
got="memory.max=$(cat "$c/memory.max") cpu.max=$(cat "$c/cpu.max") pids.max=$(cat "$c/pids.max")"
echo "$got"
as_user rm -f lim >/dev/null
[ ! -d "$c" ] || { echo "cgroup $c left behind" >&2; exit 1; }
[ "$got" = "memory.max=33554432 cpu.max=50000 100000 pids.max=20" ] || { echo "limits not applied" >&2; exit 1; }
echo "delegated cgroup v2: limits applied"
