#!/usr/bin/env bash
# Create development / CI tokens on SoftHSM with the test PKI of fixtures/pki.
#
#   ./softhsm-setup.sh [DIR] [--no-services | --stop]      (DIR default: ./.dev)
#
# Writes DIR/softhsm2.conf, DIR/signer.toml, DIR/pki/ (keys and certificates)
# and DIR/tokens/ (SoftHSM token storage), starts the test CA's CRL, OCSP and
# timestamp responders (certomancer's animator, in the background, on
# http://127.0.0.1:9921 or SIGNER_TEST_CA_PORT; the test certificates point there;
# log DIR/services.log), then prints the export lines. Without the responders
# every signature is refused (REVOCATION_UNKNOWN): the configuration checks revocation.
# Running it again keeps what is already there: keys, certificates and tokens are
# only created when missing, and responders already running are left running.
#
# --no-services writes everything but does not start the responders; --stop stops
# them; --services (the default) is still accepted.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ACTION="start"
POSITIONAL=()
for arg in "$@"; do
    case "$arg" in
        --services) ACTION="start" ;;
        --no-services) ACTION="" ;;
        --stop) ACTION="stop" ;;
        -*) echo "softhsm-setup: unknown option $arg" >&2; exit 2 ;;
        *) POSITIONAL+=("$arg") ;;
    esac
done
DIR="${POSITIONAL[0]:-./.dev}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

# The responders' port is written into the test certificates, so it is chosen once per DIR
# (SIGNER_TEST_CA_PORT, default 9921) and kept in DIR/services.port.
if [ -s "$DIR/services.port" ]; then
    SERVICES_PORT="$(cat "$DIR/services.port")"
else
    SERVICES_PORT="${SIGNER_TEST_CA_PORT:-9921}"
    echo "$SERVICES_PORT" > "$DIR/services.port"
fi
SERVICES_URL="http://127.0.0.1:$SERVICES_PORT"

responder_ready() {  # our CA's CRL answers (not merely something on the port)
    (
        exec 3<>"/dev/tcp/127.0.0.1/$SERVICES_PORT" || exit 1
        printf 'GET /gov-test/crls/root/latest.crl HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        read -r status <&3 || exit 1
        [[ "$status" == *" 200"* ]]
    ) 2>/dev/null
}

services_running() {  # our own responder process answers (not another folder's on the same port)
    [ -s "$DIR/services.pid" ] && kill -0 "$(cat "$DIR/services.pid")" 2>/dev/null && responder_ready
}

stop_services() {  # returns once the process is gone: the port is free again
    if [ -f "$DIR/services.pid" ]; then
        local pid
        pid="$(cat "$DIR/services.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$DIR/services.pid"
    fi
}

if [ "$ACTION" = "stop" ]; then
    stop_services
    echo "# Test CA services stopped."
    exit 0
fi

# Token layout: one token per person, as the government issues them.
LEADER_TOKEN="Token Le Hong Son"
CLERK_TOKEN="Token VP UBND Ha Noi"
LEADER_PIN="12345678"
CLERK_PIN="87654321"
SO_PIN="0000000000"

fail() {
    printf 'softhsm-setup: %s\n' "$1" >&2
    exit 1
}

need() {  # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 ||
        fail "'$1' not found. Install it with: sudo apt-get install -y $2 (macOS: brew install $2)"
}

need softhsm2-util softhsm2
need pkcs11-tool opensc
need openssl openssl

CERTOMANCER="${CERTOMANCER:-}"
if [ -z "$CERTOMANCER" ]; then
    if command -v certomancer >/dev/null 2>&1; then
        CERTOMANCER="$(command -v certomancer)"
    elif [ -x "$HERE/.venv/bin/certomancer" ]; then
        CERTOMANCER="$HERE/.venv/bin/certomancer"
    else
        fail "'certomancer' not found. Install the project's development extra: pip install -e '.[dev]'"
    fi
fi

MODULE=""
for candidate in \
    /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so \
    /opt/homebrew/lib/softhsm/libsofthsm2.so; do
    if [ -f "$candidate" ]; then MODULE="$candidate"; break; fi
done
[ -n "$MODULE" ] || fail "the SoftHSM PKCS#11 module (libsofthsm2.so) was not found. Install it with: sudo apt-get install -y softhsm2"

mkdir -p "$DIR/tokens" "$DIR/pki/keys"
chmod 700 "$DIR/pki/keys" "$DIR/tokens"

cat > "$DIR/softhsm2.conf" <<EOF
# SoftHSM configuration for development tokens (written by softhsm-setup.sh)
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF="$DIR/softhsm2.conf"

# Keys: generated here, never committed.
for key in root interm interm-ocsp tsa leader clerk expired revoked; do
    if [ ! -s "$DIR/pki/keys/$key.key.pem" ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
            -out "$DIR/pki/keys/$key.key.pem" 2>/dev/null
    fi
done

# Certificates: certomancer output is deterministic for the same keys.
if [ ! -s "$DIR/pki/certs/leader.cert.pem" ]; then
    "$CERTOMANCER" --config "$HERE/fixtures/pki/certomancer.yml" \
        --key-root "$DIR/pki/keys" --service-url-prefix "$SERVICES_URL" \
        mass-summon --flat --no-pfx gov-test "$DIR/pki/certs" >/dev/null
fi

token_exists() {
    softhsm2-util --show-slots 2>/dev/null | grep -q "Label:[[:space:]]*$1[[:space:]]*$"
}

load_object() {  # load_object TOKEN PIN NAME ID
    local token="$1" pin="$2" name="$3" id="$4" tmp
    tmp="$(mktemp -d)"
    openssl pkey -in "$DIR/pki/keys/$name.key.pem" -outform DER -out "$tmp/key.der"
    openssl x509 -in "$DIR/pki/certs/$name.cert.pem" -outform DER -out "$tmp/cert.der"
    pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin "$pin" \
        --write-object "$tmp/key.der" --type privkey --usage-sign \
        --id "$id" --label "$name" >/dev/null
    pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin "$pin" \
        --write-object "$tmp/cert.der" --type cert --id "$id" --label "$name" >/dev/null
    rm -rf "$tmp"
}

load_ca_cert() {  # load_ca_cert TOKEN PIN NAME ID: chain certificate, no key
    local token="$1" pin="$2" name="$3" id="$4" tmp
    tmp="$(mktemp -d)"
    openssl x509 -in "$DIR/pki/certs/$name.cert.pem" -outform DER -out "$tmp/cert.der"
    pkcs11-tool --module "$MODULE" --token-label "$token" --login --pin "$pin" \
        --write-object "$tmp/cert.der" --type cert --id "$id" --label "$name" >/dev/null
    rm -rf "$tmp"
}

create_token() {  # create_token LABEL PIN
    softhsm2-util --init-token --free --label "$1" --so-pin "$SO_PIN" --pin "$2" >/dev/null
}

if ! token_exists "$LEADER_TOKEN"; then
    create_token "$LEADER_TOKEN" "$LEADER_PIN"
    load_object "$LEADER_TOKEN" "$LEADER_PIN" leader 01
    load_object "$LEADER_TOKEN" "$LEADER_PIN" expired 02
    load_object "$LEADER_TOKEN" "$LEADER_PIN" revoked 03
    load_ca_cert "$LEADER_TOKEN" "$LEADER_PIN" interm a1
fi
if ! token_exists "$CLERK_TOKEN"; then
    create_token "$CLERK_TOKEN" "$CLERK_PIN"
    load_object "$CLERK_TOKEN" "$CLERK_PIN" clerk 01
    load_ca_cert "$CLERK_TOKEN" "$CLERK_PIN" interm a1
fi

cat > "$DIR/signer.toml" <<EOF
# Development configuration written by softhsm-setup.sh: test tokens, test PKI.
# The development PIN source below is refused unless development = true.
# Never use this file with real tokens.
development = true

[tokens]
modules = ["$MODULE"]
default_certificate = "leader"

[pin]
source = "development"

[pin.development]
"$LEADER_TOKEN" = "$LEADER_PIN"
"$CLERK_TOKEN" = "$CLERK_PIN"

[trust]
anchors = ["$DIR/pki/certs/root.cert.pem"]
intermediates = ["$DIR/pki/certs/interm.cert.pem"]

[revocation]
# OCSP and CRL of the test CA are served by the responders ./softhsm-setup.sh $DIR starts
policy = "hard-fail"
timeout_s = 5
retries = 1
cache_dir = "$DIR/cache/revocation"

[timestamp]
url = "$SERVICES_URL/gov-test/tsa/tsa"
timeout_s = 30

[server]
# Development pages (e.g. a document system running locally) may call the daemon.
allowed_origins = ["http://localhost:3000", "http://127.0.0.1:3000"]

[consent]
pregranted = ["http://localhost:3000", "http://127.0.0.1:3000"]
# Development pages sign without the confirmation dialog (every such signature says "exempt"
# in the audit log). Never list an origin here on an official's machine.
unattended = ["http://localhost:3000", "http://127.0.0.1:3000"]

[vgca]
# The clerk signs with the organisation's certificate; leaders with their own (the default).
certificates = { issued = "clerk", income = "clerk", appendix = "clerk", copy = "clerk" }

# Images shown in the Decree 30 signature blocks (sample images from fixtures/).
[appearance.leader]
signature_image = "$HERE/fixtures/images/leader-signature.png"

[appearance.clerk]
seal_image = "$HERE/fixtures/images/clerk-seal.png"
organisation = "Ủy ban nhân dân Thành phố Hà Nội"
EOF
chmod 600 "$DIR/signer.toml"

if [ "$ACTION" = "start" ] && services_running; then
    echo "# Test CA services (CRL, OCSP, TSA) already run on $SERVICES_URL; stop: $0 $DIR --stop"
elif [ "$ACTION" = "start" ]; then
    stop_services
    nohup setsid "$CERTOMANCER" --config "$HERE/fixtures/pki/certomancer.yml" --key-root "$DIR/pki/keys" \
        --service-url-prefix "$SERVICES_URL" \
        animate --port "$SERVICES_PORT" --no-web-ui > "$DIR/services.log" 2>&1 < /dev/null &
    echo $! > "$DIR/services.pid"
    for _ in $(seq 100); do
        if services_running; then break; fi
        kill -0 "$(cat "$DIR/services.pid")" 2>/dev/null || break
        sleep 0.2
    done
    if ! services_running; then
        stop_services
        fail "the test CA services did not start (is port $SERVICES_PORT in use?); see $DIR/services.log"
    fi
    echo "# Test CA services (CRL, OCSP, TSA) run on $SERVICES_URL; stop: $0 $DIR --stop"
else
    echo "# Test CA services not started: signatures are refused (REVOCATION_UNKNOWN) until: $0 $DIR"
fi

echo "# Development tokens are ready in $DIR. Run these lines in your shell:"
echo "export SOFTHSM2_CONF=\"$DIR/softhsm2.conf\""
echo "export SIGNER_CONFIG=\"$DIR/signer.toml\""
