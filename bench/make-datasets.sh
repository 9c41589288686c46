#!/usr/bin/env bash
# bench/make-datasets.sh OUTDIR -- build the benchmark datasets of bench/run.mjs
#
# The recipe is that of the shared peer-baseline script (shared/bench/make-datasets.sh, used for
# shared/bench/BASELINE.md): the same pinned Debian packages and the same seeded pseudo-random files,
# so that Flashback's numbers are comparable with the baseline.  Written again here so that the
# benchmark runs on machines without the shared material.
#
#   OUTDIR/kernel-6.1/    d1: contents of the linux-source-6.1 tarball   (~1.32 GB, ~78.6k files)
#   OUTDIR/kernel-6.12/   d1 after the upgrade: linux-source-6.12         (~1.51 GB, ~86.6k files)
#   OUTDIR/mixed-home/    d3: a synthetic home directory (~1.28 GB):
#       src/linux-6.1/                  kernel-6.1 without drivers/ sound/ Documentation/ tools/
#       Videos/clip-1.bin, clip-2.bin   200 MiB each, seeded AES-CTR keystream (incompressible)
#       Videos/project-net/             copy of kernel-6.1/drivers/net   (Videos/ is ~0.55 GB)
#       Downloads/disk-image.bin        200 MiB seeded keystream
#       Downloads/clip-1 (copy).bin     duplicate of Videos/clip-1.bin
#       Documents/kernel-fs-old/        duplicate of src/linux-6.1/fs under another name
#   OUTDIR/MANIFEST.txt   package versions, sha256 of the .debs and the random files, sizes, counts
#
# Needs apt-get with Debian bookworm + bookworm-security sources (apt-get download, no root needed),
# dpkg-deb, xz, tar, openssl >= 1.1.1, coreutils.  Steps already done are skipped on a rerun.
# Override the pinned versions with LINUX61_VERSION=... LINUX612_VERSION=... (or "candidate");
# old versions stay available on https://snapshot.debian.org/.
set -euo pipefail

out=${1:?usage: bench/make-datasets.sh OUTDIR}
v61=${LINUX61_VERSION:-6.1.176-1}
v612=${LINUX612_VERSION:-6.12.117-1~deb12u1}
mtime=1700000000
mib=1048576

# checksums recorded when the recipe was first run (a mismatch is reported, not fatal)
known_sha() {
  case $1 in
    linux-source-6.1_6.1.176-1_all.deb) echo 9305d1a151b8e83dcb88aa11361e7b9513f0c252bdf7f5647e4542762d99c094 ;;
    linux-source-6.12_6.12.117-1~deb12u1_all.deb) echo e849faf31ca3555757f3a8877cb01af92122f744f75d1f3102734651c4e14703 ;;
    Videos/clip-1.bin) echo a89f2b0981fef4b5aaf824e101aa4e69360501084b7f0ba63a53e3034773bb22 ;;
    Videos/clip-2.bin) echo 241eb54439584d0d76bc6dfdf08e36edeae5bd8ec839f183b08a523ca346ca7a ;;
    Downloads/disk-image.bin) echo 4586ed23b1c1692aad1215fc416de109c637067d1087140a65371e6fbf95bfc3 ;;
  esac
}
say() { echo "make-datasets: $*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
compare_sha() { # name file
  local want got; want=$(known_sha "$1"); got=$(sha "$2")
  [ -z "$want" ] || [ "$want" = "$got" ] || say "WARNING: $1 has sha256 $got, recorded $want"
}

mkdir -p "$out/debs"
out=$(cd "$out" && pwd)

download() { # package version -> path of the .deb on stdout
  local pkg=$1 ver=$2
  if [ "$ver" != candidate ]; then
    local f="$out/debs/${pkg}_${ver}_all.deb"
    [ -f "$f" ] || (cd "$out/debs" && apt-get download "$pkg=$ver" >&2)
    echo "$f"
  else
    (cd "$out/debs" && apt-get download "$pkg" >&2)
    ls -1t "$out/debs/${pkg}"_*_all.deb | head -n 1
  fi
}

unpack_kernel() { # deb dest : the source tarball inside the package, without its top directory
  local deb=$1 dest=$2 tarball
  [ -f "$dest/Makefile" ] && return 0
  tarball=$(dpkg-deb --fsys-tarfile "$deb" | tar -tf - | grep -E '^\./usr/src/linux-source-.*\.tar\.xz$')
  rm -rf "$dest.part"; mkdir -p "$dest.part"
  dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "$tarball" | xz -dc | tar -xf - --strip-components=1 -C "$dest.part"
  rm -rf "$dest"; mv "$dest.part" "$dest"
}

keystream() { # seed bytes file : reproducible incompressible data
  head -c "$2" /dev/zero | openssl enc -aes-256-ctr -nosalt -pbkdf2 -iter 10000 -md sha256 -pass "pass:$1" > "$3"
  touch -d "@$mtime" "$3"
}

say "downloading linux-source packages"
deb61=$(download linux-source-6.1 "$v61")
deb612=$(download linux-source-6.12 "$v612")
compare_sha "$(basename "$deb61")" "$deb61"
compare_sha "$(basename "$deb612")" "$deb612"

say "kernel-6.1"; unpack_kernel "$deb61" "$out/kernel-6.1"
say "kernel-6.12"; unpack_kernel "$deb612" "$out/kernel-6.12"

if [ ! -f "$out/mixed-home/Documents/kernel-fs-old/Makefile" ]; then
  say "mixed-home"
  h=$out/mixed-home.part
  rm -rf "$h"; mkdir -p "$h/src/linux-6.1" "$h/Videos" "$h/Downloads" "$h/Documents"
  (cd "$out/kernel-6.1" && tar -cf - --exclude=./drivers --exclude=./sound --exclude=./Documentation --exclude=./tools .) |
    tar -xf - -C "$h/src/linux-6.1"
  keystream fbbench-clip-1 $((200 * mib)) "$h/Videos/clip-1.bin"
  keystream fbbench-clip-2 $((200 * mib)) "$h/Videos/clip-2.bin"
  cp -a "$out/kernel-6.1/drivers/net" "$h/Videos/project-net"
  keystream fbbench-disk-image $((200 * mib)) "$h/Downloads/disk-image.bin"
  cp -a "$h/Videos/clip-1.bin" "$h/Downloads/clip-1 (copy).bin"
  cp -a "$h/src/linux-6.1/fs" "$h/Documents/kernel-fs-old"
  find "$h" -type d -exec touch -h -d "@$mtime" {} +
  rm -rf "$out/mixed-home"; mv "$h" "$out/mixed-home"
fi

say "MANIFEST.txt"
{
  echo "# generated $(date -u +%Y-%m-%dT%H:%M:%SZ) by bench/make-datasets.sh"
  for d in "$deb61" "$deb612"; do
    echo "deb $(basename "$d") $(dpkg-deb -f "$d" Version) sha256=$(sha "$d")"
  done
  for f in Videos/clip-1.bin Videos/clip-2.bin Downloads/disk-image.bin; do
    compare_sha "$f" "$out/mixed-home/$f"
    echo "random $f sha256=$(sha "$out/mixed-home/$f")"
  done
  for ds in kernel-6.1 kernel-6.12 mixed-home; do
    p=$out/$ds
    echo "dataset $ds bytes=$(du -sb "$p" | cut -f1) disk_bytes=$(du -sB1 "$p" | cut -f1)" \
      "files=$(find "$p" -type f | wc -l) dirs=$(find "$p" -type d | wc -l) symlinks=$(find "$p" -type l | wc -l)"
  done
} > "$out/MANIFEST.txt.part"
mv "$out/MANIFEST.txt.part" "$out/MANIFEST.txt"
cat "$out/MANIFEST.txt"
