"""One NSS database (``sql:DIR``), read and changed through ``certutil`` (Debian: libnss3-tools).

Chrome, Chromium, Edge and Brave on Linux read the user's ``~/.pki/nssdb``; each Firefox profile
has its own database. Going through certutil keeps us off NSS's private file formats.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import Code, SignerError

NICKNAME = "vn-token-signer local CA"
_TIMEOUT_S = 30
# A renewed CA gets the same subject (and so the same nickname): each deletion removes one.
_MAX_DELETIONS = 32


@dataclass(frozen=True)
class NssDb:
    directory: Path

    @property
    def spec(self) -> str:
        return f"sql:{self.directory}"

    def exists(self) -> bool:
        return (self.directory / "cert9.db").is_file()

    def create(self) -> None:
        """An empty database without a password, as the browser would make at its first start."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _certutil("-N", "-d", self.spec, "--empty-password")

    def add_ca(self, ca_pem: Path) -> None:
        """Trust ``ca_pem`` for TLS servers ("C,,"), replacing any earlier CA of ours."""
        self.remove_ca()
        _certutil("-A", "-d", self.spec, "-n", NICKNAME, "-t", "C,,", "-i", str(ca_pem))

    def remove_ca(self) -> int:
        """Remove every certificate under our nickname; how many there were."""
        removed = 0
        while removed < _MAX_DELETIONS and self._has_nickname():
            _certutil("-D", "-d", self.spec, "-n", NICKNAME)
            removed += 1
        return removed

    def trusts(self, ca_pem: Path) -> bool:
        """Whether this exact CA certificate is here and trusted for TLS servers."""
        if not self.exists() or not self._has_nickname():
            return False
        wanted = _der_set(ca_pem.read_bytes())
        listed = _certutil("-L", "-d", self.spec, "-n", NICKNAME, "-a")
        if not wanted & _der_set(listed.encode()):
            return False
        return "C" in self._ssl_trust()

    def _has_nickname(self) -> bool:
        return self.exists() and any(name == NICKNAME for name, _ in self._entries())

    def _ssl_trust(self) -> str:
        return next((flags.split(",")[0] for name, flags in self._entries() if name == NICKNAME), "")

    def _entries(self) -> list[tuple[str, str]]:
        """(nickname, "SSL,S/MIME,JAR/XPI" trust flags) per certificate, as ``certutil -L`` lists them."""
        entries = []
        for line in _certutil("-L", "-d", self.spec).splitlines():
            parts = line.rstrip().rsplit(None, 1)
            if len(parts) == 2 and parts[1].count(",") == 2:
                entries.append((parts[0].strip(), parts[1]))
        return entries


def certutil_path() -> str | None:
    return shutil.which("certutil")


def _certutil(*args: str) -> str:
    program = certutil_path()
    if program is None:
        raise SignerError(Code.NOT_SUPPORTED,
                          "certutil not found; install it: apt install libnss3-tools / dnf install nss-tools",
                          vi="không tìm thấy chương trình certutil; hãy cài đặt: apt install libnss3-tools / "
                             "dnf install nss-tools")
    done = subprocess.run([program, *args], capture_output=True, text=True, timeout=_TIMEOUT_S)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit code {done.returncode}"
        raise SignerError(Code.OUTPUT_FAILED, f"certutil {args[0]} {args[2]}: {why}",
                          vi=f"certutil {args[0]} {args[2]}: {why}")
    return done.stdout


def _der_set(pem: bytes) -> set[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return {c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(pem)}
