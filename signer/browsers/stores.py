"""The user's NSS databases that browsers read, and putting the local CA into them or taking it out.

Chrome, Chromium, Edge and Brave on Linux share ``~/.pki/nssdb`` (made here when missing, as the
browser would at its first start). Firefox keeps one database per profile, listed in
``profiles.ini`` (also under snap's and flatpak's homes); a profile that has never run has no
database yet and is left to a later ``signer tls trust``.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from .nss import NssDb

# Where Firefox keeps profiles.ini, relative to the home folder: packaged, snap, flatpak.
FIREFOX_HOMES = (
    Path(".mozilla/firefox"),
    Path("snap/firefox/common/.mozilla/firefox"),
    Path(".var/app/org.mozilla.firefox/.mozilla/firefox"),
)


@dataclass(frozen=True)
class Store:
    label: str  # "chromium-family" or "firefox:<profile name>"
    db: NssDb


@dataclass(frozen=True)
class StoreResult:
    label: str
    directory: Path
    changed: bool


def user_nssdb(home: Path) -> NssDb:
    return NssDb(home / ".pki" / "nssdb")


def firefox_profiles(home: Path) -> list[Store]:
    stores = []
    for base in FIREFOX_HOMES:
        ini = home / base / "profiles.ini"
        if not ini.is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(ini, encoding="utf-8")
        for section in parser.sections():
            if not section.startswith("Profile") or "Path" not in parser[section]:
                continue
            entry = parser[section]
            path = Path(entry["Path"])
            directory = ini.parent / path if entry.get("IsRelative", "1") == "1" else path
            stores.append(Store(f"firefox:{entry.get('Name', path.name)}", NssDb(directory)))
    return stores


def user_stores(home: Path) -> list[Store]:
    """The Chromium family's database first, then each Firefox profile's that exists."""
    return [Store("chromium-family", user_nssdb(home)),
            *(store for store in firefox_profiles(home) if store.db.exists())]


def trust_ca(ca_pem: Path, home: Path) -> list[StoreResult]:
    """Trust ``ca_pem`` for TLS in each of the user's stores; a store that already does is left alone."""
    results = []
    for store in user_stores(home):
        if store.db.trusts(ca_pem):
            results.append(StoreResult(store.label, store.db.directory, changed=False))
            continue
        if not store.db.exists():
            store.db.create()
        store.db.add_ca(ca_pem)
        results.append(StoreResult(store.label, store.db.directory, changed=True))
    return results


def untrust_ca(home: Path) -> list[StoreResult]:
    """Remove every CA of ours (the current one and any a renewal replaced) from the user's stores."""
    return [StoreResult(store.label, store.db.directory, changed=store.db.remove_ca() > 0)
            for store in user_stores(home) if store.db.exists()]
