"""A key on a PKCS#11 token, and the one conversion of driver failures into signer errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto import x509

from drivers.errors import TokenError
from drivers.pins import PinSource
from drivers.tokeninfo import KeyRef
from drivers.tokens import Pkcs11Module

from ..errors import Code, SignerError
from .certified import CertificateFacts

T = TypeVar("T")


def key_error(exc: TokenError) -> SignerError:
    """A driver's failure as the signer reports it (the codes are shared)."""
    code = Code(exc.code) if exc.code in Code.__members__ else Code.TOKEN_ERROR
    return SignerError(code, exc.detail, vi=exc.vi, **exc.facts)


def driver_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call into drivers, turning a TokenError into the signer's error."""
    try:
        return fn(*args, **kwargs)
    except TokenError as exc:
        raise key_error(exc) from None


@dataclass
class TokenKey(CertificateFacts):
    """A certificate with its chain, and the token key that signs for it."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    ref: KeyRef
    module: Pkcs11Module
    pins: PinSource

    @property
    def label(self) -> str:
        return self.ref.label

    @property
    def queue(self) -> str:
        """Signatures wait in one queue per token."""
        return self.ref.token_serial

    @property
    def concurrency(self) -> int:
        """Signatures worth asking for at once: one at the token, the next ready behind it."""
        return 2

    def expect(self, count: int) -> None:
        """A batch begins: a token signs each digest as it comes, nothing to prepare."""

    @property
    def signing_s(self) -> float:
        """Time the token's module has spent signing so far (for batch statistics)."""
        return self.module.signing_s

    async def is_logged_in(self) -> bool:
        return await self.module.worker.arun(self.module.key_ready, self.ref) is not None

    async def pin_per_signature(self) -> bool:
        """Whether the logged-in key asks the PIN for every signature (False when not logged in)."""
        return bool(await self.module.worker.arun(self.module.key_ready, self.ref))

    async def log_in(self) -> bool:
        """Log in now (asking for the PIN if needed), off the event loop; whether the key
        asks the PIN again for every signature (CKA_ALWAYS_AUTHENTICATE)."""
        return await asyncio.to_thread(driver_call, self.module.prepare_key, self.ref, self.pins)

    async def sign_digest(self, digest: bytes, algorithm: str = "sha256") -> bytes:
        try:
            return await self.module.asign_digest(self.ref, algorithm, digest, self.pins)
        except TokenError as exc:
            raise key_error(exc) from None
