#!/bin/sh
# Build step (CMake target vessel-docs): the man pages and completion scripts, written by the
# programs themselves from their command-line definitions.
#   gen-docs.sh VESSEL VESSEL_RUNTIME OUT_DIR
set -eu
vessel=$1 runtime=$2 out=$3
rm -rf "$out"
mkdir -p "$out/man/man1" "$out/man/man8" "$out/bash-completion" "$out/zsh"
"$vessel" __generate-man "$out/man/man1"
"$runtime" __generate-man "$out/man/man8"
gzip -9nf "$out"/man/man1/*.1 "$out"/man/man8/*.8
"$vessel" completion bash >"$out/bash-completion/vessel"
"$vessel" completion zsh >"$out/zsh/_vessel"
touch "$out/stamp"
