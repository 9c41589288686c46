#!/usr/bin/env bash
# A real backup → snapshots → restore round trip on a sample directory, with the repository in the default
# demo location ($XDG_DATA_HOME/flashback/demo-repo, i.e. ~/.local/share/flashback/demo-repo).
set -euo pipefail
cd "$(dirname "$0")/.."
FB="$PWD/bin/flashback"
DATA=${XDG_DATA_HOME:-$HOME/.local/share}/flashback
export FLASHBACK_REPOSITORY=${FLASHBACK_REPOSITORY:-$DATA/demo-repo}
mkdir -p "$DATA"
if [ -z "${FLASHBACK_PASSWORD:-}${FLASHBACK_PASSWORD_FILE:-}${FLASHBACK_PASSWORD_COMMAND:-}" ]; then
  # a demo passphrase kept next to the demo repository; never do this for a real repository
  [ -f "$DATA/demo-password" ] || (umask 077 && head -c 18 /dev/urandom | base64 > "$DATA/demo-password")
  export FLASHBACK_PASSWORD_FILE=$DATA/demo-password
fi
SAMPLE=$DATA/demo-sample
rm -rf "$SAMPLE" && mkdir -p "$SAMPLE/Documents/letters" "$SAMPLE/Pictures" "$SAMPLE/.cache/thumbnails"
echo "Dear Ann, the backup works." > "$SAMPLE/Documents/letters/ann.txt"
cp README.md "$SAMPLE/Documents/flashback-readme.md"
head -c 3000000 /dev/urandom > "$SAMPLE/Pictures/holiday.raw"
ln -s Documents/letters/ann.txt "$SAMPLE/latest-letter"
echo "thumbnail cache" > "$SAMPLE/.cache/thumbnails/x.png"
printf '.cache/\n*.tmp\n' > "$DATA/demo-excludes"

echo "== repository: $FLASHBACK_REPOSITORY"
[ -f "$FLASHBACK_REPOSITORY/config" ] || "$FB" init
echo "== backup (excluding .cache/)"
"$FB" backup --exclude-file "$DATA/demo-excludes" "$SAMPLE"
echo "== a letter changes, and we back up again: only the change is stored"
echo "P.S. and so does the second backup." >> "$SAMPLE/Documents/letters/ann.txt"
"$FB" backup --exclude-file "$DATA/demo-excludes" "$SAMPLE"
echo "== snapshots"
"$FB" snapshots
echo "== what changed between the last two"
"$FB" diff latest~1 latest
echo "== restore the latest snapshot"
OUT=$(mktemp -d)
"$FB" restore "latest:$SAMPLE" --target "$OUT" --verify
diff -r --exclude=.cache "$SAMPLE" "$OUT" && echo "restored tree is identical to the sample (except the excluded .cache/)"
echo "== restore the older version of the letter"
"$FB" restore "latest~1:$SAMPLE/Documents/letters/ann.txt" --target "$OUT/older"
cat "$OUT/older/ann.txt"
echo "== verify every byte of the repository"
"$FB" check --read-data
rm -rf "$OUT"
echo "demo finished; the repository stays in $FLASHBACK_REPOSITORY (remove it with: rm -rf '$DATA')"
