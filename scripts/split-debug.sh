#!/usr/bin/env bash
# Called by `cmake --install` (and so `make install`) on the installed programs: moves each one's
# debug info into a separate file, as Debian's dh_strip does, and strips the program. The debug
# file goes to PREFIX/lib/debug/.build-id/xx/yyyy.debug (gdb finds it there with
# `set debug-file-directory PREFIX/lib/debug`; /usr/lib/debug is its default) and the program
# keeps a .gnu_debuglink naming it, with its CRC.
#   split-debug.sh PREFIX BIN_DIR PROGRAM...
set -euo pipefail
prefix=$1
bindir=$2
shift 2
OBJCOPY=${OBJCOPY:-objcopy}
for name in "$@"; do
  bin="$bindir/$name"
  [ -f "$bin" ] || continue
  # The build id is the name gdb and debuginfod look the debug file up by.
  # Whole outputs are read into variables: with pipefail, a reader that stops early (grep -q,
  # head) can kill the writer with SIGPIPE and turn a match into a failure.
  notes=$(LC_ALL=C readelf -n "$bin")
  id=$(sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p' <<<"$notes" | sed -n 1p)
  if [ -z "$id" ]; then
    debug="$prefix/lib/debug$bindir/$name.debug"
  else
    debug="$prefix/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  fi
  sections=$(LC_ALL=C readelf -S -W "$bin")
  if [[ $sections != *.debug_info* ]]; then
    # Already stripped (an install over an install): keep the debug file we have.
    echo "-- Stripped already: $bin"
    continue
  fi
  mkdir -p "$(dirname "$debug")"
  "$OBJCOPY" --only-keep-debug --compress-debug-sections=zlib "$bin" "$debug"
  chmod 0644 "$debug"
  tmp=$(mktemp "$bin.XXXXXX")
  "$OBJCOPY" --strip-debug --strip-unneeded --remove-section=.comment \
    --add-gnu-debuglink="$debug" "$bin" "$tmp"
  chmod --reference="$bin" "$tmp"
  mv -f "$tmp" "$bin"
  echo "-- Split debug info: $bin -> $debug"
done
