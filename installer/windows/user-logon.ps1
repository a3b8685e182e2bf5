# Run at each user's logon by the "vn-token-signer" scheduled task, as that user.  NOT RUN in CI.
$ErrorActionPreference = "Stop"
$Signer = Join-Path $PSScriptRoot "Scripts\signer.exe"
& $Signer tls init | Out-Null  # the user's local CA and certificate (kept while valid)
$Ca = Join-Path $env:LOCALAPPDATA "vn-token-signer\vn-token-signer\tls\ca.pem"
if (Test-Path $Ca) {
    $Cert = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 $Ca
    if (-not (Get-ChildItem Cert:\CurrentUser\Root | Where-Object Thumbprint -eq $Cert.Thumbprint)) {
        Import-Certificate -FilePath $Ca -CertStoreLocation Cert:\CurrentUser\Root | Out-Null  # Windows asks once
    }
}
Start-Process -WindowStyle Hidden $Signer "tray"
& $Signer serve
