"""Certificate revocation lists, checked once and indexed on disk.

A national CRL can list a million certificates. It is verified and parsed once, when
it is stored; its entries go into an index file beside it: sorted fixed-width records
(serial number, revocation time, reason) that are memory-mapped and binary-searched.
A lookup reads about twenty records, and no process holds a parsed copy of the list.
"""

from __future__ import annotations

import json
import mmap
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from ..files import write_atomically

MAGIC = b"VNCRLIX1"
_HEAD = struct.Struct(">8sI")  # magic, length of the JSON facts that follow
_WHEN = struct.Struct(">qB")  # revocation time (seconds since the epoch), reason code

# RFC 5280 reason codes, by the names cryptography gives them
REASONS = {flag.value: code for code, flag in enumerate(x509.ReasonFlags) if flag is not x509.ReasonFlags.unspecified}
REASON_NAMES = {code: name for name, code in REASONS.items()}


class CrlUnusable(Exception):
    """The CRL cannot be relied on (signature, issuer, form); the message says why."""


@dataclass(frozen=True)
class CrlFacts:
    issuer: str  # the issuer's distinguished name, as text
    number: int
    this_update: datetime
    next_update: datetime | None
    entries: int
    scope: str = "all"  # "all", or "user" / "ca": the certificates the list speaks for

    def covers(self, certificate: x509.Certificate) -> bool:
        return self.scope == "all" or (self.scope == "ca") == _is_ca(certificate)


@dataclass(frozen=True)
class Revocation:
    revoked_at: datetime
    reason: str | None


def verified_crl(der: bytes, issuer: x509.Certificate) -> x509.CertificateRevocationList:
    """The CRL, if ``issuer`` signed it and it is a complete list (not a delta or a partition)."""
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise CrlUnusable(f"not a CRL ({exc})") from None
    if crl.issuer != issuer.subject:
        raise CrlUnusable(f"issued by {crl.issuer.rfc4514_string()}, not {issuer.subject.rfc4514_string()}")
    try:
        # a key type that cannot sign CRLs (X25519...) raises TypeError: caught below
        if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise CrlUnusable("the signature does not verify")
    except (InvalidSignature, TypeError, ValueError) as exc:
        raise CrlUnusable(f"the signature cannot be checked ({exc})") from None
    for extension in crl.extensions:
        if extension.oid == ExtensionOID.DELTA_CRL_INDICATOR:
            raise CrlUnusable("a delta CRL")
        if extension.oid == ExtensionOID.ISSUING_DISTRIBUTION_POINT:
            point = extension.value
            if point.only_some_reasons or point.indirect_crl or point.only_contains_attribute_certs:
                raise CrlUnusable("a CRL for some reasons or issuers only (issuing distribution point)")
        if extension.critical and extension.oid not in (ExtensionOID.CRL_NUMBER,
                                                          ExtensionOID.ISSUING_DISTRIBUTION_POINT):
            raise CrlUnusable(f"an unknown critical extension {extension.oid.dotted_string}")
    return crl


def crl_scope(crl: x509.CertificateRevocationList) -> str:
    try:
        point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return "all"
    return "user" if point.only_contains_user_certs else "ca" if point.only_contains_ca_certs else "all"


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return int(crl.last_update_utc.timestamp())  # no number: its issue time orders it


def write_index(crl: x509.CertificateRevocationList, path: Path) -> CrlFacts:
    """Index the entries of a verified CRL into ``path`` (written whole, then renamed)."""
    entries = []
    for entry in crl:
        reason = 0
        for extension in entry.extensions:
            if extension.oid == CRLEntryExtensionOID.CRL_REASON:
                reason = REASONS.get(extension.value.reason.value, 0)
        entries.append((entry.serial_number, int(entry.revocation_date_utc.timestamp()), reason))
    entries.sort()
    width = max([1, *((serial.bit_length() + 7) // 8 for serial, _, _ in entries)])
    facts = CrlFacts(issuer=crl.issuer.rfc4514_string(), number=crl_number(crl), this_update=crl.last_update_utc,
                     next_update=crl.next_update_utc, entries=len(entries), scope=crl_scope(crl))
    header = json.dumps({"issuer": facts.issuer, "number": facts.number,
                         "this_update": facts.this_update.isoformat(),
                         "next_update": facts.next_update.isoformat() if facts.next_update else None,
                         "entries": facts.entries, "scope": facts.scope, "width": width}).encode()
    body = bytearray(_HEAD.pack(MAGIC, len(header)) + header)
    for serial, when, reason in entries:
        body += serial.to_bytes(width, "big") + _WHEN.pack(when, reason)
    write_atomically(path, bytes(body))
    return facts


class CrlIndex:
    """A CRL's entries, looked up in its memory-mapped index file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            magic, length = _HEAD.unpack_from(self._map, 0)
            if magic != MAGIC:
                raise ValueError("not a CRL index")
            meta = json.loads(self._map[_HEAD.size:_HEAD.size + length])
        except (struct.error, ValueError) as exc:
            self._map.close()
            raise CrlUnusable(f"{path}: {exc}") from None
        self._start = _HEAD.size + length
        self._width = int(meta["width"])
        self._record = self._width + _WHEN.size
        self.facts = CrlFacts(
            issuer=meta["issuer"], number=int(meta["number"]), this_update=datetime.fromisoformat(meta["this_update"]),
            next_update=datetime.fromisoformat(meta["next_update"]) if meta["next_update"] else None,
            entries=int(meta["entries"]), scope=str(meta.get("scope", "all")))

    def lookup(self, serial: int) -> Revocation | None:
        if serial < 0 or (serial.bit_length() + 7) // 8 > self._width:
            return None
        wanted = serial.to_bytes(self._width, "big")
        low, high = 0, self.facts.entries
        while low < high:
            middle = (low + high) // 2
            at = self._start + middle * self._record
            found = self._map[at:at + self._width]
            if found < wanted:
                low = middle + 1
            elif found > wanted:
                high = middle
            else:
                when, reason = _WHEN.unpack_from(self._map, at + self._width)
                return Revocation(datetime.fromtimestamp(when, UTC), REASON_NAMES.get(reason))
        return None

    def close(self) -> None:
        self._map.close()
