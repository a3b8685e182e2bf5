#!/bin/bash
# Removes what install.sh added; --purge also removes each user's data.  Run with sudo.  NOT RUN in CI.
set -u
for agent in serve tray; do
    for uid in $(ps -axo uid=,comm= | awk '/loginwindow/ {print $1}'); do
        launchctl bootout "gui/$uid/vn.token-signer.$agent" 2>/dev/null || true
    done
    rm -f "/Library/LaunchAgents/vn.token-signer.$agent.plist"
done
for domain in com.google.Chrome com.microsoft.Edge; do
    for key in LocalNetworkAccessAllowedForUrls LoopbackNetworkAllowedForUrls; do
        defaults delete "/Library/Managed Preferences/$domain.plist" "$key" 2>/dev/null || true
    done
done
rm -rf /Library/vn-token-signer "/Library/Application Support/vn-token-signer"
if [ "${1:-}" = "--purge" ]; then
    # Each user's CA stays in that user's login keychain until removed there (Keychain Access,
    # "vn-token-signer"); their data folders are removed here.
    for home in /Users/*; do
        rm -rf "$home/Library/Application Support/vn-token-signer" "$home/Library/Caches/vn-token-signer" \
               "$home/Library/Logs/vn-token-signer"
    done
fi
