# vn-token-signer on Windows: run as an administrator.  NOT RUN in the project's CI (Linux only).
#
#   powershell -ExecutionPolicy Bypass -File install.ps1 -Source C:\src\vn-token-signer [-Policy policy.toml]
#
# - the program with its own Python environment in %ProgramFiles%\vn-token-signer
#   (Python 3.11+ must be installed for all users; -Python names it);
# - the machine policy in %ProgramData%\vn-token-signer\policy.toml (administrators write, users read);
# - Chrome and Edge policies under HKLM\Software\Policies listing the policy's origins
#   (LocalNetworkAccessAllowedForUrls and LoopbackNetworkAllowedForUrls);
# - a scheduled task run at every user's logon, as that user: user-logon.ps1 trusts the
#   user's local CA in CurrentUser\Root, then starts `signer serve` and `signer tray`.
param(
    [Parameter(Mandatory = $true)] [string] $Source,
    [string] $Policy = (Join-Path $PSScriptRoot "..\linux\policy.toml"),
    [string] $Python = "py.exe"
)
$ErrorActionPreference = "Stop"
$Prefix = Join-Path $env:ProgramFiles "vn-token-signer"
$Data = Join-Path $env:ProgramData "vn-token-signer"

if ($Python -eq "py.exe") { & py.exe -3.11 -m venv $Prefix } else { & $Python -m venv $Prefix }
& "$Prefix\Scripts\python.exe" -m pip install --disable-pip-version-check "$Source[tray]"
Copy-Item (Join-Path $PSScriptRoot "user-logon.ps1") $Prefix -Force

New-Item -ItemType Directory -Force $Data | Out-Null
Copy-Item $Policy (Join-Path $Data "policy.toml") -Force
# Administrators and SYSTEM may change the policy; users only read it.
icacls $Data /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-545:(OI)(CI)RX" | Out-Null

# The policy's origins, read with the program's own TOML reader.
$Origins = & "$Prefix\Scripts\python.exe" -c @"
from policies.machine import load_machine_policy, machine_policy_path
policy = load_machine_policy(machine_policy_path())
print('\n'.join(o.removesuffix(':443') for o in (policy.origins or ()) if policy))
"@
foreach ($Browser in "Google\Chrome", "Microsoft\Edge") {
    foreach ($Name in "LocalNetworkAccessAllowedForUrls", "LoopbackNetworkAllowedForUrls") {
        $Key = "HKLM:\Software\Policies\$Browser\$Name"
        Remove-Item $Key -Recurse -Force -ErrorAction SilentlyContinue
        New-Item -Force $Key | Out-Null
        $i = 1
        foreach ($Origin in $Origins) { New-ItemProperty $Key -Name "$i" -Value $Origin -Force | Out-Null; $i++ }
    }
}

$Action = New-ScheduledTaskAction -Execute "powershell.exe" `
    -Argument "-NoProfile -WindowStyle Hidden -ExecutionPolicy Bypass -File `"$Prefix\user-logon.ps1`""
$Principal = New-ScheduledTaskPrincipal -GroupId "S-1-5-32-545" -RunLevel Limited  # every user, as that user
Register-ScheduledTask -TaskName "vn-token-signer" -Action $Action -Trigger (New-ScheduledTaskTrigger -AtLogOn) `
    -Principal $Principal -Settings (New-ScheduledTaskSettingsSet -ExecutionTimeLimit 0) -Force | Out-Null
Write-Host "vn-token-signer installed in $Prefix; it starts at each user's next logon."
