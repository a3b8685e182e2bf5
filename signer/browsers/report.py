"""What each installed browser will do when a page of a given origin calls the daemon."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .nss import certutil_path
from .policies import CHROMIUM_FAMILY, POLICY_NAMES, allowing_files
from .stores import firefox_profiles, user_nssdb

FIREFOX_EXECUTABLES = ("firefox", "firefox-esr")


@dataclass(frozen=True)
class BrowserVerdict:
    browser: str
    label: str
    executable: str
    policy_files: list[str]  # managed policy files listing the origin (empty: none)
    certificate_trusted: bool | None  # None: could not be checked (no certutil, no CA yet)
    reaches_daemon: bool | None  # None: it depends on what the user answers
    reasons_vi: list[str] = field(default_factory=list)
    reasons_en: list[str] = field(default_factory=list)


def browser_verdicts(origin: str, *, home: Path, ca_pem: Path, root: Path = Path("/")) -> list[BrowserVerdict]:
    """One verdict per installed browser (the Chromium family, then Firefox)."""
    verdicts = []
    checkable = certutil_path() is not None and ca_pem.is_file()
    chromium_trusted = user_nssdb(home).trusts(ca_pem) if checkable else None
    for browser in CHROMIUM_FAMILY:
        executable = browser.installed()
        if executable is None:
            continue
        allowing = allowing_files(browser, origin, root=root)
        vi, en = _trust_reasons(chromium_trusted, str(user_nssdb(home).directory))
        if not allowing:
            folder = root / browser.managed_dir.relative_to("/")
            vi.insert(0, f"không có chính sách quản lý nào cho phép {origin} ({' / '.join(POLICY_NAMES)} "
                         f"trong {folder}): trình duyệt chặn trang gọi 127.0.0.1 hoặc hỏi người dùng")
            en.insert(0, f"no managed policy allows {origin} ({' / '.join(POLICY_NAMES)} in {folder}): "
                         "the browser blocks the page's calls to 127.0.0.1 or asks the user")
        verdicts.append(BrowserVerdict(browser.name, browser.label, executable, [str(p) for p in allowing],
                                       chromium_trusted, reaches_daemon=bool(allowing) and chromium_trusted is True,
                                       reasons_vi=vi, reasons_en=en))
    firefox = next((found for exe in FIREFOX_EXECUTABLES if (found := shutil.which(exe))), None)
    if firefox is not None:
        profiles = [p for p in firefox_profiles(home) if p.db.exists()]
        trusted = all(p.db.trusts(ca_pem) for p in profiles) if checkable and profiles else None
        where = ", ".join(str(p.db.directory) for p in profiles) or f"{home}/.mozilla/firefox (no profile yet)"
        vi, en = _trust_reasons(trusted, where)
        vi.append("Firefox tự hỏi người dùng về truy cập mạng cục bộ (không có chính sách theo trang)")
        en.append("Firefox asks the user itself about local network access (no per-origin policy)")
        verdicts.append(BrowserVerdict("firefox", "Firefox", firefox, [], trusted,
                                       reaches_daemon=None if trusted else False, reasons_vi=vi, reasons_en=en))
    return verdicts


def _trust_reasons(trusted: bool | None, where: str) -> tuple[list[str], list[str]]:
    if trusted is True:
        return [], []
    if trusted is None:
        return (["không kiểm tra được CA cục bộ (cần certutil và signer tls init)"],
                ["cannot check the local CA (needs certutil and signer tls init)"])
    return ([f"CA cục bộ chưa được tin cậy trong {where}: signer tls trust"],
            [f"the local CA is not trusted in {where}: signer tls trust"])
