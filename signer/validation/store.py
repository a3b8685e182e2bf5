"""The on-disk cache of revocation data, in the configured cache folder.

``crl/<issuer>/<number>.crl`` holds a verified CRL as fetched and ``<number>.idx`` its
index; older numbers of the same issuer are removed when a newer one arrives. A CRL is
used without asking again until its nextUpdate (and, under ``offline-grace``, for a
while after when its distribution point does not answer). ``ocsp/<issuer>-<serial>.der``
keeps the last OCSP answer about a certificate, used until its nextUpdate.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import SignerError
from ..files import write_atomically
from .crl import CrlIndex, CrlUnusable, crl_number, verified_crl, write_index


@dataclass(frozen=True)
class StoredCrl:
    der_path: Path
    index: CrlIndex

    def der(self) -> bytes:
        return self.der_path.read_bytes()


class RevocationStore:
    # One open index per file for the whole process, whatever the number of stores.
    _open: dict[Path, CrlIndex] = {}
    _lock = threading.RLock()

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def latest_crl(self, issuer: x509.Certificate) -> StoredCrl | None:
        folder = self.folder / "crl" / issuer_id(issuer)
        numbers = sorted((int(p.stem) for p in folder.glob("*.idx") if p.stem.isdigit()), reverse=True)
        for number in numbers:
            stored = self._stored(folder, number)
            if stored is not None:
                return stored
        return None

    def store_crl(self, der: bytes, issuer: x509.Certificate) -> StoredCrl:
        """Verify, index and keep a CRL; raises CrlUnusable for one that cannot be relied on."""
        crl = verified_crl(der, issuer)
        folder = self.folder / "crl" / issuer_id(issuer)
        number = crl_number(crl)
        with self._lock:
            stored = self._stored(folder, number)
            if stored is not None:
                return stored
            try:
                folder.mkdir(parents=True, exist_ok=True)
                write_atomically(folder / f"{number}.crl", der)
                write_index(crl, folder / f"{number}.idx")
            except (OSError, SignerError) as exc:  # an unwritable cache: the check goes on without it
                raise CrlUnusable(f"cannot keep the CRL in {folder}: {exc}") from None
            del crl  # the parsed list is not kept: lookups go to the index
            for older in folder.iterdir():
                if older.stem.isdigit() and int(older.stem) < number:
                    self._forget(older)
            stored = self._stored(folder, number)
            if stored is None:
                raise CrlUnusable(f"the index of CRL {number} in {folder} cannot be read")
            return stored

    def ocsp(self, certificate: x509.Certificate, issuer: x509.Certificate) -> bytes | None:
        try:
            return self._ocsp_path(certificate, issuer).read_bytes()
        except OSError:
            return None

    def store_ocsp(self, certificate: x509.Certificate, issuer: x509.Certificate, der: bytes) -> None:
        path = self._ocsp_path(certificate, issuer)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, der)
        except (OSError, SignerError):
            pass  # an unwritable cache only costs a request next time

    def _ocsp_path(self, certificate: x509.Certificate, issuer: x509.Certificate) -> Path:
        return self.folder / "ocsp" / f"{issuer_id(issuer)}-{certificate.serial_number:x}.der"

    def _stored(self, folder: Path, number: int) -> StoredCrl | None:
        index_path, der_path = folder / f"{number}.idx", folder / f"{number}.crl"
        if not (index_path.is_file() and der_path.is_file()):
            return None
        with self._lock:
            index = self._open.get(index_path)
            if index is None:
                try:
                    index = CrlIndex(index_path)
                except (OSError, CrlUnusable):
                    return None
                self._open[index_path] = index
        return StoredCrl(der_path, index)

    def _forget(self, path: Path) -> None:
        index = self._open.pop(path, None)
        if index is not None:
            index.close()
        path.unlink(missing_ok=True)


def issuer_id(issuer: x509.Certificate) -> str:
    """Issuer name and key together: a re-keyed CA with the same name gets its own folder."""
    key = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(issuer.subject.public_bytes() + key).hexdigest()[:32]
