#!/usr/bin/env bash
# Runs a real container with vessel-runtime: a bundle made from the host's busybox-static.
# (Until the `vessel` manager has its busybox template, the demo drives the runtime directly.)
set -euo pipefail
RUNTIME=${RUNTIME:-vessel-runtime}
work=$(mktemp -d /tmp/vessel-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $("$work/rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/:/bin/sh" > "$work/rootfs/etc/passwd"
cd "$work"
"$RUNTIME" spec
# The starter config asks for a terminal; the demo prints to a pipe-friendly stdout instead.
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["hostname"] = "vessel-demo"
c["process"]["args"] = ["sh", "-c",
    "echo \"pid inside: $$\"; echo \"hostname: $(hostname)\"; "
    "echo \"uid_map: $(cat /proc/self/uid_map)\"; echo \"rootfs: $(ls / | tr '\\n' ' ')\"; exit 7"]
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "+ $RUNTIME run demo-$$ (bundle $work)"
set +e
${WRAP:-} "$RUNTIME" --root "$work/state" run "demo-$$"
code=$?
set -e
echo "container exited with status $code (the demo's program exits 7)"
[ "$code" -eq 7 ]
