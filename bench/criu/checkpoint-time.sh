#!/bin/bash
# How long `vessel-runtime checkpoint` and `restore` take for a container holding N MiB of
# memory (a shell variable of N MiB), in the pure cgroup v2 VM where CRIU works (TCG: an
# emulator, so absolute times are far above a real machine's; the growth with N is the point).
#   bench/criu/checkpoint-time.sh [N ...]        # default: 8 32 64
# Uses an existing build (BUILD=build); prints one line per size: N, checkpoint ms, restore
# ms, image size.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
if [ "${V2VM:-}" != 1 ]; then
  libs=$build/v2vm-criu-libs
  rm -rf "$libs" && mkdir -p "$libs"
  ldd "$build/bin/vessel-runtime" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    case $(basename "$lib") in libc.so*|libm.so*|ld-linux*|libpthread.so*|libdl.so*|librt.so*) ;;
      *) cp -L "$lib" "$libs/" ;; esac
  done
  cd "$repo"
  exec env V2VM_EXTRA_PACKAGES=criu V2VM_CACHE="${V2VM_CACHE:-/var/cache/v2vm-criu}" \
    /work/shared/tools/v2vm --mem 2G --timeout 1200 --share "$repo" --cwd "$repo" \
    --env BUILD="$build" --env LIBS="$libs" -- bash "$0" "$@"
fi
export LD_LIBRARY_PATH=$LIBS
R="$BUILD/bin/vessel-runtime --root /run/vr"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
b=/var/tmp/bench; mkdir -p $b/rootfs/bin $b/rootfs/tmp
cp "$(command -v busybox)" $b/rootfs/bin/
for x in sh dd tr sleep; do ln -sf busybox $b/rootfs/bin/$x; done
cd $b && $R spec && mv config.json base.json
echo "kernel $(uname -r), $(criu --version | head -1)"
printf '%8s %8s %14s %12s %10s\n' MiB rss_MiB checkpoint_ms restore_ms image_MiB
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(8 32 64)
for size in "${sizes[@]}"; do
  rm -f rootfs/tmp/ready
  jq --arg s "$size" '.process.terminal=false | .root.readonly=false | .process.args=["sh","-c",
    ("exec </dev/null >/dev/null 2>&1; x=$(dd if=/dev/zero bs=1048576 count=" + $s + " 2>/dev/null | tr -c a a); echo ready > /tmp/ready; while true; do sleep 100000; done")]' \
    base.json > config.json
  $R run -d bench
  for _ in $(seq 1 600); do [ -e rootfs/tmp/ready ] && break; sleep 0.5; done
  [ -e rootfs/tmp/ready ] || { echo "container with $size MiB never got ready" >&2; $R list; exit 1; }
  rm -rf /var/tmp/img
  pid=$($R state bench | jq .pid)
  rss=$(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 ))
  t0=$(ms); $R checkpoint --image-path /var/tmp/img bench; t1=$(ms)
  $R restore -d --image-path /var/tmp/img bench; t2=$(ms)
  img=$(du -sm /var/tmp/img | cut -f1)
  printf '%8s %8s %14s %12s %10s\n' "$size" "$rss" $((t1 - t0)) $((t2 - t1)) "$img"
  $R delete -f bench
done
