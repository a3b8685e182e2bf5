"""The per-machine TLS certificate of the https listener (https://127.0.0.1:8987).

Pages that must reach the daemon from an https origin need a certificate the
browser trusts for ``127.0.0.1``. Each machine makes its own: a local CA whose
private key lives only in memory long enough to issue one server certificate,
then is dropped. The installer adds the CA certificate to the current user's
trust store. Even so, the CA's name constraints allow only ``localhost``,
``127.0.0.0/8`` and ``::1``, so the CA certificate could not vouch for a real
site even if its key had survived. Renewal makes a new CA and a new certificate.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import Code, SignerError, os_reason_vi
from .files import write_atomically

RENEW_BEFORE_DAYS = 30
ORGANISATION = "vn-token-signer"

# What the CA may ever certify, and what the server certificate names.
_PERMITTED = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
    x509.IPAddress(ipaddress.ip_network("::1/128")),
)
_SERVER_NAMES = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("::1")),
)
# Browsers and the OS may run a few minutes off; a certificate that starts in the
# future would be refused right after it is made.
_CLOCK_SKEW = timedelta(hours=1)
_CN_MAX = 64  # upper bound of commonName (RFC 5280)

_T = TypeVar("_T")


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path  # PEM: the server certificate, then the CA certificate
    server_key: Path

    @classmethod
    def in_dir(cls, directory: Path) -> TlsFiles:
        return cls(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")


@dataclass(frozen=True)
class TlsStatus:
    present: bool
    not_after: datetime | None  # the earlier of the server's and the CA's expiry
    days_left: int | None
    ca_fingerprint_sha256: str | None  # colon-separated upper-case hex, as openssl prints it
    needs_renewal: bool


def init_local_tls(
    directory: Path,
    *,
    now: datetime | None = None,
    server_days: int = 825,
    ca_days: int = 3650,
) -> TlsFiles:
    """Make a new local CA and server certificate in ``directory``, replacing any there.

    The CA private key is never written anywhere: it exists only in memory and is
    deleted right after it signs the server certificate, so nothing on this
    machine can issue another certificate under the CA. Each file is replaced
    atomically; the server key is created with mode 0600 and the folder with 0700.
    ``server_days`` defaults to 825, the longest validity macOS accepts for a
    server certificate.
    """
    now = _utc(now)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, _ca_common_name()),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
    ])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=ca_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=list(_PERMITTED), excluded_subtrees=None),
                       critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        ]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=server_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(list(_SERVER_NAMES)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    del ca_key  # property 13: the CA key is gone once the one certificate it will ever sign exists

    files = TlsFiles.in_dir(directory)
    _make_private_dir(directory)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_atomically(files.server_key, server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_atomically(files.ca_cert, ca_pem, public=True)
    _write_atomically(files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem,
                      public=True)
    return files


def tls_status(directory: Path, *, now: datetime | None = None) -> TlsStatus:
    """What is in ``directory`` and whether it must be made anew.

    Renewal is due when a file is missing, fewer than ``RENEW_BEFORE_DAYS`` days
    remain, or the files do not belong together (the server certificate is not
    issued by ``ca.pem``, or the key is not the certificate's); the last case is
    what a crash between two of ``init_local_tls``'s file replacements leaves.
    """
    now = _utc(now)
    files = TlsFiles.in_dir(directory)
    try:
        ca_pem = files.ca_cert.read_bytes()
        server_pem = files.server_cert.read_bytes()
        key_pem = files.server_key.read_bytes()
    except FileNotFoundError:
        return TlsStatus(present=False, not_after=None, days_left=None, ca_fingerprint_sha256=None,
                         needs_renewal=True)
    except OSError as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{directory}: {exc.strerror or exc}",
                          vi=f"{directory}: {os_reason_vi(exc)}") from None
    ca = _parse(files.ca_cert, lambda: x509.load_pem_x509_certificate(ca_pem))
    server = _parse(files.server_cert, lambda: x509.load_pem_x509_certificates(server_pem)[0])
    key = _parse(files.server_key, lambda: serialization.load_pem_private_key(key_pem, password=None))
    not_after = min(server.not_valid_after_utc, ca.not_valid_after_utc)
    matches = _issued_by(server, ca) and key.public_key() == server.public_key()
    return TlsStatus(
        present=True,
        not_after=not_after,
        days_left=(not_after - now).days,
        ca_fingerprint_sha256=ca.fingerprint(hashes.SHA256()).hex(":").upper(),
        needs_renewal=not matches or not_after - now < timedelta(days=RENEW_BEFORE_DAYS),
    )


def ensure_local_tls(directory: Path, *, now: datetime | None = None) -> TlsFiles:
    """The files to serve with, made anew first when they are missing, mismatched or about to expire."""
    if tls_status(directory, now=now).needs_renewal:
        return init_local_tls(directory, now=now)
    return TlsFiles.in_dir(directory)


def server_ssl_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.server_cert, files.server_key)
    except OSError as exc:  # ssl.SSLError is one too: a key that does not fit, a broken PEM
        raise SignerError(Code.CONFIG_INVALID, f"{files.server_cert}: {exc.strerror or exc}",
                          vi=f"{files.server_cert}: {os_reason_vi(exc)}") from None
    return context


def _utc(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now.astimezone(UTC)


def _ca_common_name() -> str:
    prefix = "vn-token-signer local CA ("
    return f"{prefix}{socket.gethostname()[:_CN_MAX - len(prefix) - 1]})"


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False,
               crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign,
        crl_sign=crl_sign, encipher_only=False, decipher_only=False,
    )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _parse(path: Path, load: Callable[[], _T]) -> _T:
    try:
        return load()
    except (ValueError, TypeError, IndexError) as exc:
        raise SignerError(Code.CONFIG_INVALID,
                          f"{path}: {exc}; run 'signer tls init --force' to make new files",
                          vi=f"{path}: {exc}; hãy chạy 'signer tls init --force' để tạo tệp mới") from None


def _make_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask, and the folder may predate us
    except OSError as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{directory}: {exc.strerror or exc}",
                          vi=f"{directory}: {os_reason_vi(exc)}") from None


def _write_atomically(path: Path, data: bytes, *, public: bool = False) -> None:
    write_atomically(path, data, mode=0o644 if public else 0o600, error_code=Code.CONFIG_INVALID)
