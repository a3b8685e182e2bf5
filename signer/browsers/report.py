"""What each installed browser will do when a page of a given origin calls the daemon."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from policies.origins import normalize_origin

from .firefox import FIREFOX_BUILDS, PREF, FirefoxBuild, exempting_files, policy_path
from .nss import certutil_path
from .policies import CHROMIUM_FAMILY, POLICY_NAMES, allowing_files
from .stores import firefox_profiles, user_nssdb


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
    """One verdict per installed browser (the Chromium family, then Firefox's builds)."""
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
    for build in FIREFOX_BUILDS:
        executable = build.installed()
        if executable is not None:
            verdicts.append(_firefox_verdict(build, executable, origin, home=home, ca_pem=ca_pem, root=root,
                                             checkable=checkable))
    return verdicts


def _firefox_verdict(build: FirefoxBuild, executable: str, origin: str, *, home: Path, ca_pem: Path,
                     root: Path, checkable: bool) -> BrowserVerdict:
    """Firefox exempts host names, not origins: the policy file counts if it lists the origin's host."""
    profiles = [p for p in firefox_profiles(home) if p.db.exists()]
    trusted = all(p.db.trusts(ca_pem) for p in profiles) if checkable and profiles else None
    where = ", ".join(str(p.db.directory) for p in profiles) or f"{home}/.mozilla/firefox (no profile yet)"
    vi, en = _trust_reasons(trusted, where)
    host = urlsplit(normalize_origin(origin) or origin).hostname or origin
    exempting = exempting_files(build, host, root=root)
    if not exempting:
        path = policy_path(build, root)
        vi.insert(0, f"{path} không miễn kiểm tra mạng cục bộ cho {host} ({PREF}): "
                     "Firefox hỏi người dùng khi trang gọi 127.0.0.1")
        en.insert(0, f"{path} does not exempt {host} from local network access checks ({PREF}): "
                     "Firefox asks the user when the page calls 127.0.0.1")
    reaches = (True if exempting else None) if trusted is True else False
    return BrowserVerdict(build.name, build.label, executable, [str(p) for p in exempting], trusted,
                          reaches_daemon=reaches, reasons_vi=vi, reasons_en=en)


def _trust_reasons(trusted: bool | None, where: str) -> tuple[list[str], list[str]]:
    if trusted is True:
        return [], []
    if trusted is None:
        return (["không kiểm tra được CA cục bộ (cần certutil và signer tls init)"],
                ["cannot check the local CA (needs certutil and signer tls init)"])
    return ([f"CA cục bộ chưa được tin cậy trong {where}: signer tls trust"],
            [f"the local CA is not trusted in {where}: signer tls trust"])
