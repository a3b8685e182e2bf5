#!/usr/bin/env bash
# Builds the Debian/Ubuntu package from this checkout:
#
#   ./installer/linux/build-deb.sh [--policy FILE] [OUTDIR]      (default OUTDIR: ./dist)
#
# The program is installed with its own Python environment in /opt/vn-token-signer, made
# here from PyPI's wheels with the distribution's /usr/bin/python3; so build on the release the package
# is for (the package depends on that exact python3.X). --policy ships an organisation's
# machine policy as /etc/vn-token-signer/policy.toml instead of the commented example.
# Needs: python3 (3.11+) with venv, dpkg-deb, network access to PyPI.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
POLICY="$HERE/policy.toml"
if [ "${1:-}" = "--policy" ]; then POLICY="$(realpath "$2")"; shift 2; fi
OUT="$(mkdir -p "${1:-$REPO/dist}" && cd "${1:-$REPO/dist}" && pwd)"
# The distribution's own interpreter, by its versioned name: the package depends on python3.X only.
PYTHON="$(realpath "${PYTHON:-/usr/bin/python3}")"
PREFIX=/opt/vn-token-signer

VERSION="$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
    "$REPO/pyproject.toml")"
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
ARCH="$(dpkg --print-architecture)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/root"

echo "== vn-token-signer $VERSION for $ARCH, Python $PYVER"
# A copy of the sources: building the wheel in the checkout would leave build/ and *.egg-info there.
mkdir -p "$WORK/src"
cp -r "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/LICENSE" "$REPO/signer" "$REPO/drivers" \
    "$REPO/policies" "$REPO/tray" "$WORK/src/"
find "$WORK/src" -name __pycache__ -prune -exec rm -rf {} +

echo "== Python environment in $PREFIX (wheels from PyPI)"
"$PYTHON" -m venv "$STAGE$PREFIX"
"$STAGE$PREFIX/bin/python" -m pip install -q --disable-pip-version-check --no-compile "$WORK/src[tray]"
"$STAGE$PREFIX/bin/python" -m pip uninstall -q -y pip
# The environment was made under $STAGE: its scripts must name the installed path.
grep -rlIF "$STAGE" "$STAGE$PREFIX" | xargs -r sed -i "s|$STAGE||g"
# The desktop companion's GTK window uses Debian's python3-gi (a Recommends), not a wheel.
sed -i 's/^include-system-site-packages = false/include-system-site-packages = true/' "$STAGE$PREFIX/pyvenv.cfg"
"$PYTHON" -m compileall -q -s "$STAGE" -p / "$STAGE$PREFIX/lib" >/dev/null

echo "== Files"
install -d "$STAGE/usr/bin" "$STAGE/usr/lib/systemd/user" "$STAGE/etc/systemd/user/default.target.wants" \
    "$STAGE/etc/xdg/autostart" "$STAGE/etc/vn-token-signer" "$STAGE/usr/share/doc/vn-token-signer"
ln -s "$PREFIX/bin/signer" "$STAGE/usr/bin/signer"
install -m 644 "$HERE/vn-token-signer.service" "$STAGE/usr/lib/systemd/user/"
# Enabled for every user, as `systemctl --global enable` would do.
ln -s /usr/lib/systemd/user/vn-token-signer.service "$STAGE/etc/systemd/user/default.target.wants/"
install -m 644 "$HERE/vn-token-signer-tray.desktop" "$STAGE/etc/xdg/autostart/"
install -m 644 "$POLICY" "$STAGE/etc/vn-token-signer/policy.toml"
# The browsers' policy folders, empty: postinst writes the policies on the installed system (Firefox's
# policies.json is merged there). Owned by the package, dpkg removes each with it once it is empty
# and no other package (the browser's own) owns it too.
"$STAGE$PREFIX/bin/python" -B -c 'from signer.browsers.policies import policy_dirs; print(*policy_dirs(), sep="\n")' |
    while read -r dir; do install -d -m 755 "$STAGE$dir"; done
install -m 644 "$REPO/LICENSE" "$STAGE/usr/share/doc/vn-token-signer/copyright"
install -m 644 "$REPO/README.md" "$STAGE/usr/share/doc/vn-token-signer/README.md"
install -m 644 "$REPO/docs/admin-guide.md" "$STAGE/usr/share/doc/vn-token-signer/admin-guide.md"

install -d "$STAGE/DEBIAN"
SIZE="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" -e "s/@PYTHON@/python$PYVER/" \
    "$HERE/debian/control.in" > "$STAGE/DEBIAN/control"
install -m 644 "$HERE/debian/conffiles" "$STAGE/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    # @SESSIONS@: the shared helper, inlined (maintainer scripts cannot source package files on removal)
    sed -e "/@SESSIONS@/{r $HERE/debian/_sessions.sh" -e 'd}' "$HERE/debian/$script" > "$STAGE/DEBIAN/$script"
    chmod 755 "$STAGE/DEBIAN/$script"
done

DEB="$OUT/vn-token-signer_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zzstd --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
