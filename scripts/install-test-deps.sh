#!/usr/bin/env bash
# Installs the Debian packages the test suite needs: real exFAT and FAT32 file systems for repositories on
# removable devices (exfatprogs + exfat-fuse, dosfstools + fusefat), loop devices and mount tools, attr.
# Idempotent and quick when everything is present. Runs as part of `npm test` (pretest).
set -euo pipefail
PKGS=(exfatprogs exfat-fuse dosfstools fusefat attr mount util-linux bsdutils procps)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies: all present (${PKGS[*]})"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "warning: missing Debian packages: ${missing[*]}" >&2
  echo "  install them as root (apt-get install ${missing[*]}); without them the exFAT/FAT32 tests are skipped" >&2
  echo "  (and fail when CI=true)" >&2
  exit 0
fi
echo "test dependencies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test dependencies: installed"
