#!/usr/bin/env bash
# Builds the vlcp .deb with dpkg-deb from a staged tree (no cargo-deb needed).
#
# Usage: packaging/build-deb.sh [--out DIR] [--no-build]
#   --out DIR    where to write vlcp_<version>_<arch>.deb (default: <target>/debian)
#   --no-build   package the release binaries already in <target>/release
#
# The target directory is $CARGO_TARGET_DIR, else <repo>/target. The last line printed is the
# path of the .deb.
#
# Contents:
#   /usr/bin/{vlcp,vlcp-cleanup,vlcpctl}        release binaries, debug info stripped
#   /etc/vlcp/vlcp.conf                         config/docker.conf (a conffile)
#   /usr/lib/systemd/system/vlcp.service        the unit (before docker.service)
#   /usr/lib/tmpfiles.d/vlcp.conf               creates /run/docker/plugins
#   /usr/share/doc/vlcp/{README.md,copyright,examples/*.conf}
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/debian
build=1

while [ $# -gt 0 ]; do
    case "$1" in
    --out)
        [ $# -ge 2 ] || { echo "build-deb.sh: --out needs a directory" >&2; exit 2; }
        out=$2
        shift 2
        ;;
    --no-build)
        build=0
        shift
        ;;
    -h | --help)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "build-deb.sh: unknown argument $1" >&2
        exit 2
        ;;
    esac
done

for tool in dpkg-deb dpkg install objcopy; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is required" >&2; exit 1; }
done

bins=(vlcp vlcp-cleanup vlcpctl)
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release -p vlcp-plugin -p vlcp-cleanup -p vlcpctl --bins)
fi
release=$target/release
for b in "${bins[@]}"; do
    [ -x "$release/$b" ] || { echo "build-deb.sh: $release/$b is missing (build first)" >&2; exit 1; }
done

version=$("$release/vlcp" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
[ -n "$version" ] || { echo "build-deb.sh: cannot read the version from vlcp --version" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/vlcp
mkdir -p "$stage"
chmod 0755 "$stage"

for b in "${bins[@]}"; do
    install -D -m 0755 "$release/$b" "$stage/usr/bin/$b"
    objcopy --strip-debug "$stage/usr/bin/$b"
done
install -D -m 0644 "$root/config/docker.conf" "$stage/etc/vlcp/vlcp.conf"
install -D -m 0644 "$here/systemd/vlcp.service" "$stage/usr/lib/systemd/system/vlcp.service"
install -D -m 0644 "$here/systemd/vlcp-tmpfiles.conf" "$stage/usr/lib/tmpfiles.d/vlcp.conf"
doc=$stage/usr/share/doc/vlcp
install -D -m 0644 "$root/README.md" "$doc/README.md"
install -D -m 0644 "$here/deb/copyright" "$doc/copyright"
for conf in "$root"/config/*.conf; do
    install -D -m 0644 "$conf" "$doc/examples/$(basename "$conf")"
done

# Shared-library dependencies of the binaries, as dpkg-shlibdeps computes them.
depends="libc6, libgcc-s1"
if command -v dpkg-shlibdeps >/dev/null; then
    mkdir -p "$work/shlibs/debian"
    printf 'Source: vlcp\n\nPackage: vlcp\nArchitecture: any\n' >"$work/shlibs/debian/control"
    line=$(cd "$work/shlibs" && dpkg-shlibdeps -O "${bins[@]/#/$stage/usr/bin/}" 2>/dev/null) || line=
    case "$line" in
    shlibs:Depends=?*) depends=${line#shlibs:Depends=} ;;
    *) echo "build-deb.sh: dpkg-shlibdeps gave nothing; using Depends: $depends" >&2 ;;
    esac
fi

size=$(du -sk "$stage" | cut -f1)
mkdir -m 0755 "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$here/deb/control.in" >"$stage/DEBIAN/control"
install -m 0644 "$here/deb/conffiles" "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$here/deb/$script" "$stage/DEBIAN/$script"
done
(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/vlcp_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
