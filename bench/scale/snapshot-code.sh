#!/usr/bin/env bash
# Builds a private copy of the committed code (HEAD) for the scale benchmark, so that other people
# rebuilding dist/ in the checkout cannot change or break the code under measurement:
#   bash bench/scale/snapshot-code.sh [/tmp/flashback-code]  then  FLASHBACK_CODE=/tmp/flashback-code node bench/scale/...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/flashback-code}
rm -rf "$out"
mkdir -p "$out/native/build/Release"
git -C "$root" archive HEAD | tar -x -C "$out"
ln -s "$root/node_modules" "$out/node_modules"
cp "$root/native/build/Release/flashback_native.node" "$out/native/build/Release/"
git -C "$root" rev-parse --short HEAD > "$out/.flashback-commit"
(cd "$out" && npx tsc -p tsconfig.json)
echo "built $(cat "$out/.flashback-commit") in $out"
