#!/usr/bin/env bash
# Installs the Debian packages the build and the test suite need:
#   - real exFAT and FAT32 file systems in user space (the kernel may have no vfat/exfat driver):
#     exfatprogs + exfat-fuse (on a loop device), dosfstools + fusefat, fuse3 (fusermount; satisfies the
#     "fuse" dependency of both FUSE programs);
#   - mount/umount/losetup (mount, util-linux), getfattr/setfattr (attr), ps/pgrep (procps);
#   - python3, make, gcc, g++ for node-gyp (the native addon and zstd-napi are compiled at install).
# Idempotent: when everything is present it only runs dpkg-query (a few ms) and never touches apt.
# Runs from .ci/run and as `npm test`'s pretest. Without root or apt it warns and exits 0 (the tests
# that need these packages then skip, or fail when CI is set).
set -euo pipefail

PKGS=(exfatprogs exfat-fuse dosfstools fusefat fuse3 attr mount util-linux procps python3 make gcc g++)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "warning: missing packages: ${missing[*]}" >&2
    echo "  install them as root: apt-get install --no-install-recommends ${missing[*]}" >&2
    echo "  without them the exFAT/FAT32/xattr tests skip (and fail when CI is set)" >&2
    exit 0
  fi
  echo "test dependencies: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-q -o DPkg::Lock::Timeout=300)
  # a fresh machine may have no package lists (or stale ones): update first, retry once on a network hiccup
  apt-get "${apt_opts[@]}" update -qq || { sleep 5; apt-get "${apt_opts[@]}" update -qq; }
  apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" | grep -E '^(Setting up|E:)' || true
  still=()
  for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
  if [ ${#still[@]} -gt 0 ]; then
    echo "error: could not install: ${still[*]}" >&2
    exit 1
  fi
  for p in "${missing[@]}"; do echo "  installed $(dpkg-query -W -f='${Package} ${Version}' "$p")"; done
else
  echo "test dependencies: all present (${PKGS[*]})"
fi

# What the mount tests need from the machine itself (packages cannot provide these): say so early.
if [ "$(id -u)" = 0 ]; then
  [ -e /dev/fuse ] || echo "warning: /dev/fuse is missing: the exFAT and FAT32 tests cannot mount" >&2
  [ -e /dev/loop-control ] || echo "warning: no loop devices (/dev/loop-control): the exFAT tests cannot mount" >&2
fi
exit 0
