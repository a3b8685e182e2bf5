"""The browsers installed here, as ``signer browsers`` sees them: whether each trusts the local CA
(its user store), and whether a managed policy lets each allowed origin's pages call the daemon
(Local Network Access). An origin on loopback needs no such policy (its page is local itself)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from policies.origins import load_allowlist

from ..browsers.firefox import FIREFOX_BUILDS
from ..browsers.report import BrowserVerdict, browser_verdicts
from ..tls import TlsFiles
from .machine import Machine
from .result import CheckResult, Finding, Fix, Status, combine

TRUST, POLICY = "browser-trust", "browser-policy"
FIREFOX = frozenset(b.name for b in FIREFOX_BUILDS)

NO_BROWSER = Finding("warn", "no browser found", Fix("cài trình duyệt (Chrome, Edge, Chromium hoặc Firefox)",
                                                    "install a browser (Chrome, Edge, Chromium or Firefox)"))
TRUST_CA = Fix("tin cậy CA cục bộ cho trình duyệt của người dùng này: signer tls trust",
               "trust the local CA in this user's browsers: signer tls trust")
CANNOT = Fix("cài certutil (gói libnss3-tools) và tạo chứng thư cục bộ: signer tls init",
             "install certutil (package libnss3-tools) and create the local certificate: signer tls init")
WRITE_POLICY = Fix("ghi chính sách trình duyệt cho các trang được phép: sudo signer browsers policies --write",
                   "write the browser policies for the allowed origins: sudo signer browsers policies --write")


def check_browser_trust(machine: Machine) -> CheckResult:
    # a verdict's trust half is the same whatever the origin: the daemon's own stands for them all
    port = machine.settings.server.tls_port
    found = [_trust(v) for v in _verdicts(machine, f"https://127.0.0.1:{port}")]
    return combine(TRUST, found, none=NO_BROWSER)


def check_browser_policy(machine: Machine) -> CheckResult:
    settings = machine.settings
    origins = load_allowlist(settings.server.allowed_origins,
                             only=settings.policy.origins if settings.policy else None).listed()
    remote = [o for o in origins if not _loopback(o)]
    if not remote:
        return combine(POLICY, [], none=Finding("pass", "no allowed origin outside this computer needs a policy"))
    found = [_policy(origin, v) for origin in remote for v in _verdicts(machine, origin)]
    return combine(POLICY, found, none=NO_BROWSER)


def _verdicts(machine: Machine, origin: str) -> list[BrowserVerdict]:
    ca_pem = TlsFiles.in_dir(machine.settings.server.tls_dir).ca_cert
    return browser_verdicts(origin, home=machine.home, ca_pem=ca_pem, root=machine.policy_root)


def _trust(verdict: BrowserVerdict) -> Finding:
    if verdict.certificate_trusted is True:
        return Finding("pass", f"{verdict.label} trusts the local CA")
    if verdict.certificate_trusted is None:
        return Finding("warn", f"{verdict.label}: {verdict.reasons_en[-1]}", CANNOT)
    return Finding("fail", f"{verdict.label} does not trust the local CA", TRUST_CA)


def _policy(origin: str, verdict: BrowserVerdict) -> Finding:
    if verdict.policy_files:
        return Finding("pass", f"{verdict.label} lets {origin} call the daemon ({verdict.policy_files[0]})")
    # Chromium's browsers block the page; Firefox asks the official
    status: Status = "warn" if verdict.browser in FIREFOX else "fail"
    return Finding(status, f"{verdict.label}: no policy lets {origin} call the daemon", WRITE_POLICY)


def _loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
