#!/usr/bin/env bash
# Flashback next to restic on one tree, step by step in the same run: first backup, no-change rerun,
# full restore (compared with the source), check --read-data; wall, CPU and peak RSS of each, sizes.
# Usage: scripts/side-by-side.sh [TREE] [WORKDIR]   (the full benchmark with Borg and rsync: npm run bench)
set -u
SRC=${1:-/work/datasets/kernel-6.1}
W=${2:-/tmp/flashback-sbs}
rm -rf "$W"; mkdir -p "$W"
export FLASHBACK_PASSWORD=bench RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$W/rcache FLASHBACK_TEST_KDF_N=1024
FB="$(cd "$(dirname "$0")/.." && pwd)/bin/flashback"
command -v restic >/dev/null || { echo "restic is not installed (apt-get install restic)"; exit 1; }
"$FB" -r "$W/fb" init -q; restic -r "$W/restic" init -q
find "$SRC" -type f -print0 | xargs -0 cat > /dev/null 2>&1
t() { local name=$1; shift; sync; /usr/bin/time -f "$name %e s wall %U+%S s cpu %M KB" "$@" > /dev/null 2>>"$W/times" || echo "$name FAILED" >> "$W/times"; tail -1 "$W/times"; }
t fb-initial "$FB" -r "$W/fb" backup -q "$SRC"
t restic-initial restic -r "$W/restic" backup -q --compression auto "$SRC"
echo "repository sizes: flashback $(du -sm "$W/fb" | cut -f1) MB, restic $(du -sm "$W/restic" | cut -f1) MB"
t fb-nochange "$FB" -r "$W/fb" backup -q "$SRC"
t restic-nochange restic -r "$W/restic" backup -q "$SRC"
t fb-restore "$FB" -r "$W/fb" restore -q latest --target "$W/fb-out"
t restic-restore restic -r "$W/restic" restore -q latest --target "$W/restic-out"
diff -rq "$SRC" "$W/fb-out$SRC" > /dev/null && echo "flashback restore identical to the source" || echo "flashback restore DIFFERS"
t fb-check "$FB" -r "$W/fb" check -q --read-data
t restic-check restic -r "$W/restic" check -q --read-data
rm -rf "$W"
