# Removes what install.ps1 added; -Purge also removes each user's data.  Run as an administrator.  NOT RUN in CI.
param([switch] $Purge)
$ErrorActionPreference = "Continue"
Unregister-ScheduledTask -TaskName "vn-token-signer" -Confirm:$false -ErrorAction SilentlyContinue
Get-Process signer -ErrorAction SilentlyContinue | Where-Object Path -like "$env:ProgramFiles\vn-token-signer\*" |
    Stop-Process -Force
foreach ($Browser in "Google\Chrome", "Microsoft\Edge") {
    foreach ($Name in "LocalNetworkAccessAllowedForUrls", "LoopbackNetworkAllowedForUrls") {
        Remove-Item "HKLM:\Software\Policies\$Browser\$Name" -Recurse -Force -ErrorAction SilentlyContinue
    }
}
Remove-Item (Join-Path $env:ProgramFiles "vn-token-signer") -Recurse -Force -ErrorAction SilentlyContinue
Remove-Item (Join-Path $env:ProgramData "vn-token-signer") -Recurse -Force -ErrorAction SilentlyContinue
if ($Purge) {
    # Each user's local CA stays trusted in that user's CurrentUser\Root until removed in their session
    # (certmgr.msc, "vn-token-signer"); their data folders are removed here.
    Get-ChildItem "$env:SystemDrive\Users" -Directory | ForEach-Object {
        Remove-Item (Join-Path $_.FullName "AppData\Local\vn-token-signer") -Recurse -Force -ErrorAction SilentlyContinue
    }
}
