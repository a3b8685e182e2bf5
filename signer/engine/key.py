"""What the engine needs of a key: its certificate and chain, and a signature over a digest.

Keys on PKCS#11 tokens and keys of remote signing services implement it (``signer.keys``); the
engine knows nothing of tokens, PINs or drivers.
"""

from __future__ import annotations

from typing import Protocol

from asn1crypto import x509


class CertifiedKey(Protocol):
    """What a signature's container names of the key: the certificate, its chain, the algorithm."""

    @property
    def certificate(self) -> x509.Certificate: ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]: ...  # issuers, root last

    @property
    def algorithm(self) -> str: ...  # "rsa" or "ec"


class SigningKey(CertifiedKey, Protocol):
    @property
    def signature_size(self) -> int: ...  # upper bound of a raw signature's DER size

    async def sign_digest(self, digest: bytes, algorithm: str = "sha256") -> bytes: ...
