"""Operations every edge (native API, VGCA adapter) runs the same way: consent for a
browser origin, the certificate, the token queue, one PIN prompt per origin, the engine."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from policies.profiles import load_profile

from typing import TYPE_CHECKING

from .api.caller import Caller
from .config import Settings
from .companion.prompts import CertificateFacts, ConsentRequest, DocumentFacts
from .engine import cms, digest, levels, pdf, preview
from .errors import SignerError
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


async def consent(daemon: Daemon, caller: Caller, scope: str,
                  describe: Callable[[], Awaitable[ConsentRequest]] | None = None) -> None:
    """A browser origin's consent for ``scope``, asked at most once per call."""
    if not caller.is_browser or scope in caller.consented:
        return
    await daemon.consent.require(caller.origin or "", scope, describe)
    caller.consented.add(scope)


async def consent_to_identity(daemon: Daemon, caller: Caller) -> None:
    """The official's tokens and certificates are for pages the official allowed."""
    async def describe() -> ConsentRequest:
        try:
            certificate = CertificateFacts.of((await daemon.signing_key(None)).certificate)
        except SignerError:
            certificate = None  # no token yet: the dialog says so
        return ConsentRequest(origin=caller.origin or "", scope="sign", operation="certificate",
                              certificate=certificate)

    await consent(daemon, caller, "sign", describe)


Documents = Callable[[], Awaitable[tuple[DocumentFacts, ...]]]
Preview = Callable[[SigningKey], Awaitable[bytes | None]]


@asynccontextmanager
async def signing(daemon: Daemon, caller: Caller, scope: str, selector: str | None,
                  key: SigningKey | None = None, *, operation: str = "sign", documents: Documents | None = None,
                  preview: Preview | None = None) -> AsyncIterator[SigningKey]:
    """The way to the token, in order: the origin's consent for ``scope`` (the dialog shows
    ``documents``, the certificate and ``preview``, built only when the official is asked),
    the certificate (checked), a place in the token's queue, the login (one PIN prompt per
    origin)."""
    async def describe() -> ConsentRequest:
        nonlocal key
        key = key or await signing_key_for(daemon, caller, selector)
        return ConsentRequest(
            origin=caller.origin or "", scope=scope, operation=operation,
            documents=await documents() if documents else (),
            certificate=CertificateFacts.of(key.certificate),
            preview_png=await preview(key) if preview else None,
            pin_per_signature=daemon.key_facts.pin_per_signature(key.certificate.sha256.hex()))

    await consent(daemon, caller, scope, describe)
    key = key or await signing_key_for(daemon, caller, selector)
    async with daemon.queues.slot(key.ref.token_serial):
        await daemon.log_in(caller, key)
        yield key


async def pdf_preview(data: bytes, options: pdf.PdfSignOptions, key: SigningKey, settings: Settings) -> bytes | None:
    """The block on its page for the consent dialog (None: an invisible signature, or no preview)."""
    if options.profile is None:
        return None
    options = with_certificate_look(options, settings, key)
    try:
        return await asyncio.to_thread(preview.preview_png, data, options,
                                       pdf.block_facts(key, options, cms.signing_time_now()), scale=1.0)
    except SignerError:
        return None  # the signature itself reports what is wrong


async def sign_pdf_for(
    daemon: Daemon, caller: Caller, data: bytes, options: pdf.PdfSignOptions, selector: str | None,
    *, key: SigningKey | None = None, name: str = "",
) -> pdf.SignedPdf:
    """Bad input (a broken document, an anchor not found) is refused before consent or any
    token access; the block is placed before the PIN prompt."""
    sha256 = await asyncio.to_thread(_sha256, data)
    caller.audit.update(document_sha256=sha256, document_size=len(data))
    parsed = await asyncio.to_thread(pdf.open_pdf, data)
    plan = await asyncio.to_thread(pdf.plan_pdf, data, options, parsed)

    async def documents() -> tuple[DocumentFacts, ...]:
        return (DocumentFacts(name=name, sha256=sha256, size=len(data), pages=pdf.page_count(parsed)),)

    async def block(key: SigningKey) -> bytes | None:
        return await pdf_preview(data, options, key, daemon.settings)

    async with signing(daemon, caller, "sign", selector, key, documents=documents, preview=block) as key:
        options = with_certificate_look(options, daemon.settings, key)
        return await pdf.sign_pdf(data, key, options, parsed=parsed, plan=plan, tsa=tsa_for(daemon.settings))


async def sign_cms_for(daemon: Daemon, caller: Caller, data: bytes, selector: str | None) -> cms.CmsSignature:
    sha256 = await asyncio.to_thread(_sha256, data)
    caller.audit.update(document_sha256=sha256, document_size=len(data))

    async def documents() -> tuple[DocumentFacts, ...]:
        return (DocumentFacts(name="", sha256=sha256, size=len(data)),)

    async with signing(daemon, caller, "sign", selector, documents=documents) as key:
        return await cms.sign_cms(data, key)


async def sign_hash_for(
    daemon: Daemon, caller: Caller, value: bytes, algorithm: str, selector: str | None
) -> tuple[bytes, SigningKey]:
    """A bare digest: its own consent scope, since nobody can see what it stands for."""
    digest.check_digest(value, algorithm)  # refuse a malformed digest before consent or the token
    caller.audit.update(document_sha256=value.hex() if algorithm == "sha256" else None, document_size=0)
    async def documents() -> tuple[DocumentFacts, ...]:  # no document: the digest is all there is to show
        return (DocumentFacts(name="", sha256=value.hex(), size=0),)

    async with signing(daemon, caller, "hash", selector, operation="hash", documents=documents) as key:
        return await digest.sign_digest(value, key, algorithm), key


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
