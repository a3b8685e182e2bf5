"""Operations every edge (native API, VGCA adapter) runs the same way: consent for a
browser origin, the certificate, the token queue, one PIN prompt per origin, the engine."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from policies.profiles import load_profile

from typing import TYPE_CHECKING

from .api.caller import Caller
from .config import Settings
from .engine import cms, digest, levels, pdf
from .keys import SigningKey

if TYPE_CHECKING:
    from .daemon import Daemon


async def signing_key_for(daemon: Daemon, caller: Caller, selector: str | None) -> SigningKey:
    key = await daemon.signing_key(selector)
    caller.audit["certificate_sha256"] = key.certificate.sha256.hex()
    return key


def tsa_for(settings: Settings) -> levels.TsaClient | None:
    return levels.tsa_client(settings.timestamp.url, settings.revocation.policy)


def with_certificate_look(options: pdf.PdfSignOptions, settings: Settings, key: SigningKey) -> pdf.PdfSignOptions:
    """Fill the profile's image and organisation from the certificate's configured appearance."""
    if options.profile is None:
        return options
    look = settings.appearance.get(key.ref.label)
    if look is None:
        return options
    try:
        profile = load_profile(options.profile)
    except (KeyError, ValueError):
        return options  # an unknown or broken profile is refused by the engine with its own message
    image = options.image
    if image is None:
        image = look.seal_image if profile.image == "seal" else look.signature_image if profile.image == "signature" else None
    return replace(options, image=image, organisation=options.organisation or look.organisation)


@asynccontextmanager
async def signing(daemon: Daemon, caller: Caller, scope: str, selector: str | None,
                  key: SigningKey | None = None) -> AsyncIterator[SigningKey]:
    """The way to the token, in order: the origin's consent for ``scope``, the certificate
    (checked), a place in the token's queue, the login (one PIN prompt per origin)."""
    if caller.is_browser:
        await daemon.consent.require(caller.origin, scope)
    key = key or await signing_key_for(daemon, caller, selector)
    async with daemon.queues.slot(key.ref.token_serial):
        await daemon.log_in(caller, key)
        yield key


async def sign_pdf_for(
    daemon: Daemon, caller: Caller, data: bytes, options: pdf.PdfSignOptions, selector: str | None,
    *, key: SigningKey | None = None,
) -> pdf.SignedPdf:
    """Bad input (a broken document, an anchor not found) is refused before consent or any
    token access; the block is placed before the PIN prompt."""
    caller.audit.update(document_sha256=await asyncio.to_thread(_sha256, data), document_size=len(data))
    parsed = await asyncio.to_thread(pdf.open_pdf, data)
    plan = await asyncio.to_thread(pdf.plan_pdf, data, options, parsed)
    async with signing(daemon, caller, "sign", selector, key) as key:
        options = with_certificate_look(options, daemon.settings, key)
        return await pdf.sign_pdf(data, key, options, parsed=parsed, plan=plan, tsa=tsa_for(daemon.settings))


async def sign_cms_for(daemon: Daemon, caller: Caller, data: bytes, selector: str | None) -> cms.CmsSignature:
    caller.audit.update(document_sha256=await asyncio.to_thread(_sha256, data), document_size=len(data))
    async with signing(daemon, caller, "sign", selector) as key:
        return await cms.sign_cms(data, key)


async def sign_hash_for(
    daemon: Daemon, caller: Caller, value: bytes, algorithm: str, selector: str | None
) -> tuple[bytes, SigningKey]:
    """A bare digest: its own consent scope, since nobody can see what it stands for."""
    digest.check_digest(value, algorithm)  # refuse a malformed digest before consent or the token
    caller.audit.update(document_sha256=value.hex() if algorithm == "sha256" else None, document_size=0)
    async with signing(daemon, caller, "hash", selector) as key:
        return await digest.sign_digest(value, key, algorithm), key


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
