#!/usr/bin/env bash
# Builds the managed (v2) Docker plugin bundle: <out>/config.json + <out>/rootfs, ready for
#   docker plugin create vlcp:latest <out>
#   docker plugin enable vlcp:latest
# (no registry needed). The rootfs holds the vlcp binary with its shared libraries and loader,
# a static busybox as /bin/sh (the entrypoint expands $VLCP_CONFIG), and config/docker.conf as
# /etc/vlcp/vlcp.conf. Every build writes a distinct /etc/vlcp/build-id, so creating a second
# plugin from a rebuilt bundle never hits Docker's "content ... already exists".
#
# Usage: packaging/managed-plugin/build.sh [--bin FILE] [--out DIR] [--config FILE] [--no-strip]
#   --bin FILE     the vlcp binary to ship (default: build <target>/release/vlcp with cargo)
#   --out DIR      where to write the bundle (default: <target>/managed-plugin; replaced)
#   --config FILE  the default config (default: config/docker.conf)
#   --no-strip     keep debug info in the shipped binary
#
# The target directory is $CARGO_TARGET_DIR, else <repo>/target. The last line printed is the
# bundle directory. As root, the rootfs is checked by running `vlcp --version` chrooted in it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$(dirname "$here")")
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/managed-plugin
config=$root/config/docker.conf
bin=
strip=1

need() {
    [ "$2" -ge 2 ] || { echo "build.sh: $1 needs a value" >&2; exit 2; }
}
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) need "$1" $#; bin=$2; shift 2 ;;
    --out) need "$1" $#; out=$2; shift 2 ;;
    --config) need "$1" $#; config=$2; shift 2 ;;
    --no-strip) strip=0; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "$bin" ]; then
    (cd "$root" && cargo build --release --locked -p vlcp-plugin --bin vlcp) >&2
    bin=$target/release/vlcp
fi
[ -x "$bin" ] || { echo "build.sh: $bin is not an executable" >&2; exit 1; }
[ -f "$config" ] || { echo "build.sh: config $config not found" >&2; exit 1; }
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "build.sh: busybox not found (apt-get install busybox-static)" >&2; exit 1; }

# The shipped config must be valid for this binary.
"$bin" --check-config -f "$config" >&2

rm -rf "$out"
rootfs=$out/rootfs
mkdir -p "$rootfs"/{bin,usr/bin,etc/vlcp,proc,sys,dev,tmp,run/docker/plugins,var/run/openvswitch,var/lib/vlcp}
chmod 1777 "$rootfs/tmp"

# Copies the shared libraries of $1 (and the loader) to their own paths in the rootfs.
copy_libs() {
    local lib
    # A static executable has none (ldd fails on it).
    { ldd "$1" 2>/dev/null || true; } | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u |
        while read -r lib; do
            mkdir -p "$rootfs$(dirname "$lib")"
            cp -L "$lib" "$rootfs$lib"
        done
}

if [ "$strip" = 1 ]; then
    strip --strip-debug -o "$rootfs/usr/bin/vlcp" "$bin"
else
    cp "$bin" "$rootfs/usr/bin/vlcp"
fi
chmod 0755 "$rootfs/usr/bin/vlcp"
copy_libs "$bin"
cp -L "$busybox" "$rootfs/bin/busybox"
copy_libs "$busybox"
for applet in sh ls cat; do
    ln -s busybox "$rootfs/bin/$applet"
done

install -m 0644 "$config" "$rootfs/etc/vlcp/vlcp.conf"
printf 'root:x:0:0:root:/:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
{
    echo "vlcp $("$bin" --version | awk '{print $2}')"
    echo "binary sha256 $(sha256sum "$bin" | awk '{print $1}')"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%S.%NZ) pid $$"
} >"$rootfs/etc/vlcp/build-id"
install -m 0644 "$here/config.json" "$out/config.json"

if [ "$(id -u)" = 0 ]; then
    chroot "$rootfs" /usr/bin/vlcp --version >&2
    chroot "$rootfs" /bin/sh -c 'exec /usr/bin/vlcp --check-config -f /etc/vlcp/vlcp.conf' >&2
fi
echo "$out"
