#!/usr/bin/env bash
# Development install on a fresh Debian (12+) or Ubuntu (24.04+) machine:
# system packages, a virtual environment in ./.venv with the project and its
# test tools, SoftHSM development tokens in ./.dev, then a first signature.
#
#   ./installer/dev-install.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(softhsm2 opensc poppler-utils qpdf openssl python3 python3-venv python3-pip chromium xmlsec1
          # certutil: the local CA in the NSS databases browsers read (signer tls trust, its browser test)
          libnss3-tools
          # the desktop companion's window test: a virtual screen, Qt WebEngine's libraries, screenshots
          xvfb trayer x11-utils imagemagick libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
          libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libnss3
          libxcomposite1 libxdamage1 libxrandr2 libgbm1
          # the package test (tests/test_package.py): a fresh minimal Debian root, its own loopback
          debootstrap iproute2
          # the token watchers: pyscard builds from source; pcscd with a virtual reader and card
          libpcsclite-dev swig pcscd vsmartcard-vpcd vsmartcard-vpicc python3-virtualsmartcard)
echo "== Installing system packages: ${PACKAGES[*]}"
$SUDO apt-get update -qq
# ALSA's library was renamed on Ubuntu 24.04 (libasound2t64)
if apt-cache show libasound2t64 >/dev/null 2>&1; then PACKAGES+=(libasound2t64); else PACKAGES+=(libasound2); fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null

PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        PYTHON="$candidate"
        break
    fi
done
if [ -z "$PYTHON" ]; then
    echo "dev-install: Python 3.11 or newer is required (Debian 12+, Ubuntu 24.04+)." >&2
    exit 1
fi

echo "== Creating .venv with $("$PYTHON" --version) and installing the project"
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

echo "== Creating development tokens in .dev"
PATH="$REPO/.venv/bin:$PATH" ./softhsm-setup.sh .dev
export SOFTHSM2_CONF="$REPO/.dev/softhsm2.conf"
export SIGNER_CONFIG="$REPO/.dev/signer.toml"

echo "== Signing a sample document with the 'leader' certificate"
.venv/bin/signer certs
.venv/bin/signer sign fixtures/documents/libreoffice.pdf -o .dev/sample-signed.pdf \
    --reason "Phê duyệt" --location "Hà Nội"
pdfsig .dev/sample-signed.pdf | grep -E "Signer Certificate Common Name|Signature Validation"

if [ "${CI:-}" = "true" ]; then
    ./softhsm-setup.sh .dev --stop >/dev/null
    echo "== CI: neither the daemon nor the test CA services are left running (the tests start their own)"
else
    echo "== Starting the daemon (signer serve) on the development tokens"
    if [ -f .dev/serve.pid ] && kill -0 "$(cat .dev/serve.pid)" 2>/dev/null; then
        kill "$(cat .dev/serve.pid)"
        sleep 1
    fi
    nohup setsid .venv/bin/signer serve > .dev/serve.log 2>&1 < /dev/null &
    echo $! > .dev/serve.pid
    if ! .venv/bin/python - <<'EOP'
import time, urllib.request
for _ in range(40):
    try:
        urllib.request.urlopen("http://127.0.0.1:8986/v1/health", timeout=1).read()
        raise SystemExit(0)
    except OSError:
        time.sleep(0.5)
raise SystemExit(1)
EOP
    then
        echo "dev-install: the daemon did not start; see .dev/serve.log:" >&2
        tail -5 .dev/serve.log >&2
        exit 1
    fi
    head -1 .dev/serve.log
    echo "   log: .dev/serve.log   stop: kill \$(cat .dev/serve.pid)"
fi

cat <<EOM

Done. To use the development tokens in your shell:
  source .venv/bin/activate
  export SOFTHSM2_CONF="$SOFTHSM2_CONF"
  export SIGNER_CONFIG="$SIGNER_CONFIG"
  signer tokens
  curl http://127.0.0.1:8986/v1/health
EOM
