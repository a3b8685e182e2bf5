#!/bin/bash
# vn-token-signer on macOS: run with sudo.  NOT RUN in the project's CI (Linux only).
#
#   sudo ./installer/macos/install.sh [--policy FILE]
#
# - the program with its own Python environment in /Library/vn-token-signer (python3 3.11+
#   from python.org or Homebrew must be installed; PYTHON names it);
# - the machine policy in "/Library/Application Support/vn-token-signer/policy.toml";
# - Chrome and Edge managed preferences (/Library/Managed Preferences) listing the policy's
#   origins (LocalNetworkAccessAllowedForUrls and LoopbackNetworkAllowedForUrls); an MDM
#   profile does the same on managed Macs;
# - a launchd agent for every user (/Library/LaunchAgents): user-login.sh trusts the user's
#   local CA in the login keychain, then runs `signer serve`; a second agent runs `signer tray`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
POLICY="$HERE/../linux/policy.toml"
if [ "${1:-}" = "--policy" ]; then POLICY="$2"; fi
PREFIX=/Library/vn-token-signer
DATA="/Library/Application Support/vn-token-signer"

"${PYTHON:-python3}" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install --disable-pip-version-check "$REPO[tray]"
install -m 755 "$HERE/user-login.sh" "$PREFIX/user-login.sh"
install -d -m 755 "$DATA"
install -m 644 "$POLICY" "$DATA/policy.toml"

ORIGINS="$("$PREFIX/bin/python" -c '
from policies.machine import load_machine_policy, machine_policy_path
policy = load_machine_policy(machine_policy_path())
print(" ".join(o.removesuffix(":443") for o in ((policy and policy.origins) or ())))')"
for domain in com.google.Chrome com.microsoft.Edge; do
    plist="/Library/Managed Preferences/$domain.plist"
    install -d -m 755 "/Library/Managed Preferences"
    for key in LocalNetworkAccessAllowedForUrls LoopbackNetworkAllowedForUrls; do
        defaults delete "$plist" "$key" 2>/dev/null || true
        # shellcheck disable=SC2086  # one array element per origin
        [ -z "$ORIGINS" ] || defaults write "$plist" "$key" -array $ORIGINS
    done
done

for agent in serve tray; do
    plist="/Library/LaunchAgents/vn.token-signer.$agent.plist"
    if [ "$agent" = serve ]; then program="<string>$PREFIX/user-login.sh</string>"
    else program="<string>$PREFIX/bin/signer</string><string>tray</string>"; fi
    cat > "$plist" <<EOP
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Label</key><string>vn.token-signer.$agent</string>
  <key>ProgramArguments</key><array>$program</array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>LimitLoadToSessionType</key><string>Aqua</string>
</dict></plist>
EOP
    chmod 644 "$plist"
done
echo "vn-token-signer installed in $PREFIX; it starts at each user's next login."
