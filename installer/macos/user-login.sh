#!/bin/bash
# Run at each user's login by the vn.token-signer.serve agent, as that user.  NOT RUN in CI.
set -u
SIGNER=/Library/vn-token-signer/bin/signer
"$SIGNER" tls init >/dev/null
CA="$HOME/Library/Application Support/vn-token-signer/tls/ca.pem"
KEYCHAIN="$HOME/Library/Keychains/login.keychain-db"
if [ -f "$CA" ] && ! security verify-cert -c "$CA" -k "$KEYCHAIN" >/dev/null 2>&1; then
    # trust for TLS in the user's login keychain (macOS asks for the user's password once)
    security add-trusted-cert -r trustRoot -p ssl -k "$KEYCHAIN" "$CA"
fi
exec "$SIGNER" serve
