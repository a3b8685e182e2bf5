"""The one place a signature happens. Every edge (native API, VGCA adapter, command line,
batches) signs through ``SigningService``: a browser origin's consent (the dialog shows
the documents, the certificate and the block), the official's confirmation of this very
signature (the same dialog in its "confirm" mode; none for an origin configured as
unattended), the certificate's check, a place in the token's queue, the login (one PIN
prompt per origin; the login ends when idle), then the engine. PDF documents are read in
the document workers (``documents``), never in the daemon's own process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from policies.profiles import load_profile

from ..certificates import Trust
from ..config import Settings
from ..errors import Code, SignerError
from ..keys import Key, KeyStore, RemoteKey
from ..keys.watch import TokenWatch
from ..lazy import lazy_import
from .caller import Caller
from .consent import RAW, SIGN, ConsentBroker
from .documents.pool import DocumentPool
from .login_facts import LoginFacts
from .placing import OFFICIAL, PAGE_WIDTH_PX, PageView, Placing, spot_facts
from .plugging import TokenWaits
from .prompts import (
    CONFIRM,
    ONCE,
    PIN_PURPOSE,
    REFUSE,
    CertificateFacts,
    ConsentRequest,
    DocumentFacts,
    PinPurpose,
    Prompts,
)
from .queues import PromptGuard, TokenQueues
from .sessions import LoginSessions

if TYPE_CHECKING:  # the document stack is imported when first needed, not at start-up
    from ..engine import cms, digest, levels, pdf, xml
    from ..validation import presign
    from ..validation.revocation import Evidence
else:
    cms, digest, levels, pdf, xml = (lazy_import(f"signer.engine.{name}") for name in
                                     ("cms", "digest", "levels", "pdf", "xml"))
    presign = lazy_import("signer.validation.presign")

CHECK_REUSE_S = 60.0  # how long a passed certificate check stands for the same certificate
CONFIRMED, EXEMPT, REFUSED = "confirmed", "exempt", "refused"  # the audit line's "confirmation"

Documents = Callable[[], Awaitable[tuple[DocumentFacts, ...]]]


@dataclass(frozen=True)
class CheckedKey:
    """A key whose certificate passed the check, with the revocation answers it relied on."""

    key: Key
    evidence: Evidence
    confirmation: str | None = None  # for the audit lines of what it signs (a batch's documents)

    @property
    def remote(self) -> str | None:
        """The remote signing service that holds the key, for the audit lines (None: a token's)."""
        return self.key.service.name if isinstance(self.key, RemoteKey) else None


Preview = Callable[[CheckedKey], Awaitable[bytes | None]]


class SigningService:
    def __init__(self, settings: Settings, keys: KeyStore, trust: Trust, *, prompts: Prompts,
                 consent: ConsentBroker | None, queues: TokenQueues, login_facts: LoginFacts,
                 login_idle_s: float, documents: DocumentPool, watch: TokenWatch | None = None) -> None:
        """``consent``: None where no browser can call (the command line); ``watch``: tokens
        coming and going, for a signature that waits for its token (None: it never waits)."""
        self.settings = settings
        self.documents = documents
        self.keys = keys
        self.trust = trust
        self.prompts = prompts
        self.consent = consent
        self.queues = queues
        self.login_facts = login_facts
        self.prompt_guard = PromptGuard("a PIN request", "một yêu cầu nhập mã PIN")
        self.confirm_guard = PromptGuard("a confirmation", "một yêu cầu xác nhận")
        self.sessions = LoginSessions(keys, login_idle_s)
        self.waits = TokenWaits(keys, watch, prompts, settings.tokens.wait_s)
        self.unattended = frozenset(settings.consent.unattended)  # normalised by the settings
        self._checked: dict[bytes, tuple[float, Evidence]] = {}

    # -- the way to the token ------------------------------------------------------

    async def checked_key(self, caller: Caller, selector: str | None) -> CheckedKey:
        """The key for ``selector``; a certificate that may not sign signs nothing."""
        key = await self._key(caller, selector)
        return CheckedKey(key, await self._check(key))

    async def _key(self, caller: Caller, selector: str | None, operation: str = "certificate") -> Key:
        key = await self.waits.key(caller, selector, operation)
        caller.audit["certificate_sha256"] = key.certificate.sha256.hex()
        if isinstance(key, RemoteKey):
            caller.audit["remote"] = key.service.name  # the line names the service that holds the key
        return key

    async def _check(self, key: Key) -> Evidence:
        """A good verdict is reused for a short while."""
        fingerprint = key.certificate.sha256
        checked = self._checked.get(fingerprint)
        if checked is not None and time.monotonic() - checked[0] < CHECK_REUSE_S:
            return checked[1]
        evidence = await presign.check_signing_certificate(
            key.certificate, key.chain, self.trust.anchors, revocation=self.settings.revocation,
            responders=presign.responders_command(self.settings))
        self._checked[fingerprint] = (time.monotonic(), evidence)
        return evidence

    def consent_check(self, caller: Caller, scope: str) -> None:
        """Before the token is read: refuse a browser origin that no consent could let through."""
        if caller.is_browser and self.consent is not None:
            self.consent.check(caller.origin or "", scope)

    async def ask_consent(self, caller: Caller, scope: str, certificate: str | None,
                          describe: Callable[[], Awaitable[ConsentRequest]] | None = None) -> None:
        """A browser origin's consent for ``scope`` with ``certificate`` (None: the identity,
        allowed with any certificate's consent), asked at most once per call."""
        consented = scope if certificate is None else f"{scope}:{certificate}"
        if not caller.is_browser or consented in caller.consented:
            return
        if self.consent is None:
            raise SignerError(Code.CONSENT_DENIED, "no one can be asked here", vi="không có ai ở đây để hỏi")
        await self.consent.require(caller.origin or "", scope, certificate, describe)
        caller.consented.add(consented)

    async def consent_to_identity(self, caller: Caller) -> None:
        """The official's tokens and certificates are for pages the official allowed."""
        async def describe() -> ConsentRequest:
            try:
                key = await self.keys.signing_key(None)
                certificate: CertificateFacts | None = CertificateFacts.of(key.certificate)
            except SignerError:
                certificate = None  # no token yet: the dialog says so
            return ConsentRequest(origin=caller.origin or "", scope=SIGN, operation="certificate",
                                  certificate=certificate)

        self.consent_check(caller, SIGN)
        await self.ask_consent(caller, SIGN, None, describe)

    async def certificate(self, caller: Caller, selector: str | None = None) -> Key:
        """The signing certificate's key, for a caller allowed to know the official's identity."""
        await self.consent_to_identity(caller)
        return (await self.checked_key(caller, selector)).key

    @asynccontextmanager
    async def signing(self, caller: Caller, scope: str, selector: str | None, *, operation: str = "sign",
                      documents: Documents | None = None, preview: Preview | None = None,
                      reason: str | None = None, location: str | None = None,
                      placing: Callable[[], Awaitable[Placing | None]] | None = None
                      ) -> AsyncIterator[CheckedKey]:
        """In order: the origin's consent for ``scope`` and this certificate (the dialog shows
        ``documents``, the certificate, ``preview``, ``reason`` and ``location``, built only when
        the official is asked), the official's confirmation of this signature (unless that
        consent dialog was it, or the origin is unattended), the certificate (checked), a place
        in the token's queue, the login (one PIN prompt per origin, naming it and ``operation``).
        ``placing``: the block the official places in that dialog (None: none), asked for when
        the dialog is built; a dialog answered without placing it refuses the signature."""
        checked: CheckedKey | None = None
        asked = False  # the consent dialog was shown for this request: it was the confirmation
        placed: Placing | None = None
        self.consent_check(caller, scope)
        key = await self._key(caller, selector, operation)

        async def checked_once() -> CheckedKey:
            nonlocal checked
            checked = checked or CheckedKey(key, await self._check(key))
            return checked

        async def describe() -> ConsentRequest:
            nonlocal asked, placed
            ready = await checked_once()
            asked = True
            placed = placed or (await placing() if placing else None)
            return ConsentRequest(
                origin=caller.origin or "", scope=scope, operation=operation,
                documents=await documents() if documents else (),
                certificate=CertificateFacts.of(ready.key.certificate),
                preview_png=await preview(ready) if preview and placed is None else None,
                pin_per_signature=self.login_facts.pin_per_signature(ready.key.certificate.sha256.hex()),
                reason=reason, location=location, placing=placed)

        await self.ask_consent(caller, scope, key.certificate.sha256.hex(), describe)
        if caller.is_browser:
            await self._confirm(caller, asked, describe)
        if placed is not None and placed.placed is None:
            caller.audit["confirmation"] = REFUSED
            raise SignerError(Code.CONSENT_DENIED, f"{caller.origin}: the signature block was not placed",
                              vi=f"{caller.origin}: khối chữ ký chưa được đặt")
        ready = await checked_once()
        purpose = PIN_PURPOSE.set(PinPurpose(caller.name, operation))
        try:
            async with self.queues.slot(ready.key.queue), self.sessions.use(ready.key.queue):
                await self._log_in(caller, ready.key)
                yield replace(ready, confirmation=caller.audit.get("confirmation"))
                if await ready.key.pin_per_signature():
                    # a key that asks the PIN per signature without saying so shows it at its first one
                    self.login_facts.remember(ready.key.certificate.sha256.hex(), True)
        finally:
            PIN_PURPOSE.reset(purpose)

    async def _confirm(self, caller: Caller, asked: bool,
                       describe: Callable[[], Awaitable[ConsentRequest]]) -> None:
        """A remembered consent lets an origin ask, not sign unseen: the official confirms each
        signing request, in the dialog that shows what will be signed. Only configuration exempts
        an origin. A refusal is CONSENT_DENIED, as a refused consent is."""
        if asked:
            caller.audit["confirmation"] = CONFIRMED
            return
        if caller.origin in self.unattended:  # both normalised (the caller middleware, the settings)
            caller.audit["confirmation"] = EXEMPT
            return
        async with self.confirm_guard.prompt(caller.name):
            request = replace(await describe(), mode=CONFIRM)
            try:
                decision = await self.prompts.consent(request)
            except SignerError:
                caller.audit["confirmation"] = REFUSED
                raise
        if decision != ONCE:  # "always" is never an answer to a confirmation: it is not remembered
            caller.audit["confirmation"] = REFUSED
            raise SignerError(Code.CONSENT_DENIED, f"{caller.origin}: the official refused this signature"
                              if decision == REFUSE else f"{caller.origin}: not confirmed",
                              vi=(f"{caller.origin}: người dùng đã từ chối chữ ký này" if decision == REFUSE
                                 else f"{caller.origin}: chưa được xác nhận"))
        caller.audit["confirmation"] = CONFIRMED

    async def _log_in(self, caller: Caller, key: Key) -> None:
        """Make sure the token is logged in; a PIN prompt is one per origin at a time."""
        if await key.is_logged_in():
            return
        async with self.prompt_guard.prompt(caller.name):
            try:
                per_signature = await key.log_in()
            except SignerError as error:
                if error.code.startswith("PIN_"):  # the companion tells the official
                    await self.prompts.pin_result(error)
                raise
            await self.prompts.pin_result(None)
            self.login_facts.remember(key.certificate.sha256.hex(), per_signature)

    # -- what the engine is given ----------------------------------------------------

    def tsa(self) -> levels.TsaClient | None:
        return levels.tsa_client(self.settings.timestamp.url, self.settings.revocation.policy)

    def with_certificate_look(self, options: pdf.PdfSignOptions, key: Key) -> pdf.PdfSignOptions:
        """Fill the profile's image and organisation from the certificate's configured appearance."""
        if options.profile is None:
            return options
        look = self.settings.appearance.get(key.label)
        if look is None:
            return options
        try:
            profile = load_profile(options.profile)
        except (KeyError, ValueError):
            return options  # an unknown or broken profile is refused by the engine with its own message
        image = options.image
        if image is None:
            image = {"seal": look.seal_image, "signature": look.signature_image}.get(profile.image)
        return replace(options, image=image, organisation=options.organisation or look.organisation)

    async def pdf_preview(self, caller: Caller, data: bytes, options: pdf.PdfSignOptions, key: Key
                          ) -> bytes | None:
        """The block on its page for the consent dialog (None: an invisible signature, or no preview)."""
        if options.profile is None:
            return None
        options = pdf.with_holder(self.with_certificate_look(options, key), key.certificate)
        try:
            facts = pdf.block_facts(key, options, cms.signing_time_now())
            return await self.documents.preview(caller.name, data, options, facts, scale=1.0)
        except SignerError:
            return None  # the signature itself reports what is wrong (a document over budget, say)

    # -- signatures ----------------------------------------------------------------

    def can_place(self, caller: Caller) -> bool:
        """The official can place a block by hand: a browser's signature gets a dialog (its
        origin is not unattended) and someone is there to answer it."""
        return caller.is_browser and caller.origin not in self.unattended and self.prompts.can_ask

    async def holder_options(self, caller: Caller, options: pdf.PdfSignOptions, selector: str | None
                             ) -> pdf.PdfSignOptions:
        """``options`` whose placement looks for the certificate's title and printed name too:
        before the official is asked to place a block, whatever the document says must have
        been looked for."""
        self.consent_check(caller, SIGN)
        return pdf.with_holder(options, (await self._key(caller, selector)).certificate)

    async def sign_pdf(self, caller: Caller, data: bytes, options: pdf.PdfSignOptions, selector: str | None,
                       *, name: str = "") -> pdf.SignedPdf:
        """Bad input (a broken document, one over the document budget) is refused before consent
        or any token access; the block is placed before the PIN prompt. A block that nothing in
        the document places is placed by the official in the signature's dialog, when there is
        one (else the profile's fallback, or ANCHOR_NOT_FOUND). A damaged document is repaired
        when it is read: from then on its lossless rewrite is what is shown, previewed, signed
        and returned (``SignedPdf.repaired``)."""
        sha256 = input_sha256 = await self._note_document(caller, data)
        asking = self.can_place(caller) and options.profile is not None
        options = replace(options, placement=replace(options.placement, fallback=not asking))
        inspection = await self.documents.inspect(caller.name, data, options)
        if inspection.rewritten is not None:
            data = inspection.rewritten
            sha256 = await asyncio.to_thread(_sha256, data)
            caller.audit["repaired_sha256"] = sha256
        placing: Placing | None = None
        profile = options.profile
        if asking and inspection.plan is None and profile is not None:
            # nothing of the document placed it: the certificate's title and printed name are looked
            # for (the token is read now, after the document passed), and only then is the official asked
            options = await self.holder_options(caller, options, selector)
            try:
                inspection = replace(await self.documents.inspect(caller.name, data, options),
                                     rewritten=inspection.rewritten)
            except SignerError as error:
                if error.code is not Code.ANCHOR_NOT_FOUND:
                    raise
                inspection = replace(inspection, plan=None)
                placing = self.placing(caller, data, name, profile, inspection.pages)

        async def documents() -> tuple[DocumentFacts, ...]:
            return (DocumentFacts(name=name, sha256=sha256, size=len(data), pages=inspection.pages,
                                  repaired=inspection.rewritten is not None),)

        async def block(checked: CheckedKey) -> bytes | None:
            return await self.pdf_preview(caller, data, options, checked.key)

        async def to_place() -> Placing | None:
            return placing

        async with self.signing(caller, SIGN, selector, documents=documents, preview=block,
                                reason=options.reason, location=options.location, placing=to_place) as checked:
            key = checked.key
            if placing is not None and placing.placed is not None:
                options = replace(options, placement=placing.placed.request(inspection.pages))
            options = self.with_certificate_look(options, key)
            tsa = self.tsa()
            level = pdf.ready_level(options, checked.evidence, tsa)
            prepared = await self.documents.prepare_document(data, pdf.KeyOutline.of(key), options,
                                                             pdf.reserve_for(key, level), inspection)
            prepared.repaired = inspection.rewritten is not None
            signed = await pdf.complete_pdf(prepared, key, level, tsa, checked.evidence)
        signed = replace(signed, input_sha256=input_sha256)  # what the caller sent (repaired_sha256: the rewrite)
        if placing is not None and signed.spot is not None:
            signed = replace(signed, spot=replace(signed.spot, placed_by=OFFICIAL))
        caller.audit["placement"] = spot_facts(signed.spot)
        return signed

    def placing(self, caller: Caller, data: bytes, name: str, profile: str, pages: int) -> Placing:
        """The question of where the block goes, its pages rendered in the document workers when asked."""
        async def render(index: int) -> PageView:
            png, visible, count = await self.documents.page(caller.name, data, index, PAGE_WIDTH_PX)
            return PageView(png, visible, count)

        chosen = load_profile(profile)
        return Placing(name, pages, (chosen.width, chosen.height), render)

    async def sign_cms(self, caller: Caller, data: bytes, selector: str | None) -> cms.CmsSignature:
        """A detached CAdES-BES signature over any content: the raw scope, since the daemon
        cannot tell what the bytes are (a page's own PDF byte ranges, say)."""
        sha256 = await self._note_document(caller, data)

        async def documents() -> tuple[DocumentFacts, ...]:
            return (DocumentFacts(name="", sha256=sha256, size=len(data)),)

        async with self.signing(caller, RAW, selector, operation="raw", documents=documents) as checked:
            return await cms.sign_cms(data, checked.key)

    async def authenticate(self, caller: Caller, challenge: str, selector: str | None
                           ) -> tuple[bytes, cms.CmsSignature]:
        """Proof of the certificate holder for a page: a CMS over a statement the daemon writes
        (the origin and the page's challenge, as JSON), so the page cannot choose the bytes;
        the document scope covers it."""
        statement = json.dumps({"origin": caller.origin or "", "challenge": challenge}, ensure_ascii=False).encode()
        sha256 = await self._note_document(caller, statement)

        async def documents() -> tuple[DocumentFacts, ...]:
            return (DocumentFacts(name=challenge[:200], sha256=sha256, size=len(statement)),)

        async with self.signing(caller, SIGN, selector, operation="auth", documents=documents) as checked:
            return statement, await cms.sign_cms(statement, checked.key)

    async def sign_xml(self, caller: Caller, data: bytes, selector: str | None, *,
                       signature_only: bool = False) -> xml.XmlSignature:
        """An enveloped XML signature; bad XML is refused before consent or the token."""
        sha256 = await self._note_document(caller, data)
        await asyncio.to_thread(xml.parse_document, data)

        async def documents() -> tuple[DocumentFacts, ...]:
            return (DocumentFacts(name="", sha256=sha256, size=len(data)),)

        async with self.signing(caller, SIGN, selector, documents=documents) as checked:
            return await xml.sign_xml(data, checked.key, signature_only=signature_only)

    async def sign_hash(self, caller: Caller, value: bytes, algorithm: str, selector: str | None
                        ) -> tuple[bytes, Key]:
        """A bare digest: the raw scope, since nobody can see what it stands for."""
        digest.check_digest(value, algorithm)  # refuse a malformed digest before consent or the token
        caller.audit.update(document_sha256=value.hex() if algorithm == "sha256" else None, document_size=0)

        async def documents() -> tuple[DocumentFacts, ...]:  # no document: the digest is all there is to show
            return (DocumentFacts(name="", sha256=value.hex(), size=0),)

        async with self.signing(caller, RAW, selector, operation="hash", documents=documents) as checked:
            return await digest.sign_digest(value, checked.key, algorithm), checked.key

    async def _note_document(self, caller: Caller, data: bytes) -> str:
        sha256 = await asyncio.to_thread(_sha256, data)
        caller.audit.update(document_sha256=sha256, document_size=len(data))
        return sha256


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
