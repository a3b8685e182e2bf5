"""PAdES signatures on PDF documents.

``sign_pdf`` runs three separate steps: ``prepare_pdf`` (parse, add the field,
reserve space, hash the byte ranges), the token signature over the CMS signed
attributes, and ``finish_pdf`` (embed the CMS). Every signature is a new
incremental update with a fresh field, so earlier signatures stay valid.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from asn1crypto import x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest

from policies.errors import vietnamese
from policies.profiles import Profile, load_profile, profile_names

from ..certificates import holder_name
from ..errors import Code, SignerError
from ..validation.revocation import Evidence
from . import appearance, cms, decoding, levels
from .header import HeaderPlan, plan_empty_fields, plan_header, write_header
from .key import SigningKey
from .options import Holder, PdfSignOptions
from .pagetext import PageText
from .placement import Spot, page_refs, page_space, place
from .reading import reading, reason
from .widgets import PlacedStyle

# Extra room in the signature container beyond the exact CMS size (hex digits).
RESERVE_MARGIN = 64
# Revisions (incremental updates) a document may have: real ones have one per signature
# or edit, a few dozen at most; pdfminer reads the chain of their cross-reference
# sections recursively, and a few hundred more would exhaust its stack.
MAX_REVISIONS = 500


@dataclass(frozen=True)
class PdfPlan:
    """Where a profile's block (and the header's number and date) go. Reading the page text
    is the slow part of signing a large document: it is done before the token is touched."""

    spot: Spot
    header: HeaderPlan | None  # the number and date fields of the header


@dataclass(frozen=True)
class KeyOutline:
    """What preparing a document needs of a key: plain data, so it crosses to worker processes."""

    certificate_der: bytes
    signature_size: int

    @classmethod
    def of(cls, key: SigningKey) -> KeyOutline:
        return cls(key.certificate.dump(), key.signature_size)

    @property
    def certificate(self) -> x509.Certificate:
        return _load_certificate(self.certificate_der)


@lru_cache(maxsize=16)
def _load_certificate(der: bytes) -> x509.Certificate:
    return x509.Certificate.load(der)


@dataclass
class PreparedPdf:
    """A document with its signature placeholder, waiting for the CMS."""

    output: io.BytesIO
    byte_range_digest: PreparedByteRangeDigest
    field_name: str
    signing_time: datetime
    input_sha256: str
    pages: int
    spot: Spot | None = None  # where the block went (None: an invisible signature)
    repaired: bool = False  # a damaged document's lossless rewrite (``repair``), whose hash input_sha256 is

    @property
    def document_digest(self) -> bytes:
        return self.byte_range_digest.document_digest


@dataclass(frozen=True)
class SignedPdf:
    data: bytes
    field_name: str
    signing_time: datetime
    input_sha256: str
    signer: str
    level: str = "B-B"
    spot: Spot | None = None  # where the block went (None: an invisible signature)
    # a damaged input was signed in its lossless rewrite (``repair``), whose SHA-256 this is
    repaired_sha256: str | None = None

    @property
    def repaired(self) -> bool:
        return self.repaired_sha256 is not None


def open_pdf(data: bytes) -> IncrementalPdfFileWriter:
    """Parse a PDF for an incremental update, refusing what cannot be signed."""
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise SignerError(Code.DOCUMENT_INVALID, "the file does not start with a PDF header",
                          vi="tệp không bắt đầu bằng phần đầu của PDF")
    with reading():
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False, decode_limits=decoding.pyhanko_limits())
        except misc.PdfReadError as exc:
            if "encrypt" in str(exc).lower():
                raise SignerError(Code.DOCUMENT_ENCRYPTED) from None
            raise
        if writer.prev.encrypted:
            raise SignerError(Code.DOCUMENT_ENCRYPTED)
        revisions = writer.prev.total_revisions
        if revisions > MAX_REVISIONS:
            raise SignerError(Code.DOCUMENT_TOO_COMPLEX,
                              f"it has {revisions} revisions (incremental updates); at most {MAX_REVISIONS} are read",
                              vi=f"tệp có {revisions} lần cập nhật nối tiếp; chỉ đọc tối đa {MAX_REVISIONS} lần")
        try:
            pages = int(writer.root["/Pages"].get_object()["/Count"])
        except (misc.PdfError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SignerError(Code.DOCUMENT_INVALID, f"no page tree ({reason(exc)})",
                              vi=f"không có cây trang ({reason(exc)})") from None
        if pages < 1:
            raise SignerError(Code.DOCUMENT_INVALID, "the document has no pages", vi="văn bản không có trang nào")
    return writer


def fresh_field_name(writer: IncrementalPdfFileWriter) -> str:
    """``SignatureN`` with the smallest N not used by any form field."""
    used = set(_field_names(writer))
    n = 1
    while f"Signature{n}" in used:
        n += 1
    return f"Signature{n}"


def reserved_size(key: SigningKey) -> int:
    """Hex digits to reserve for the CMS: exact size, plus a small margin."""
    return 2 * cms.container_size(key) + RESERVE_MARGIN


def plan_pdf(data: bytes, options: PdfSignOptions, parsed: IncrementalPdfFileWriter | None = None
             ) -> PdfPlan | None:
    """Place the block of ``options.profile`` (None: an invisible signature, nothing to place)."""
    profile = _profile(options.profile)
    if profile is None:
        return None
    check_number(profile, options)
    return plan_block(data, parsed or open_pdf(data), profile, options)


def check_number(profile: Profile, options: PdfSignOptions) -> None:
    """An issued document carries its number, unless the profile leaves numbers to be written
    by hand (a preview may still show the block without one)."""
    if profile.fill_header and not options.doc_number and not profile.numbers_by_hand:
        raise SignerError(Code.BAD_REQUEST, f"profile {profile.name} needs the document number (doc_number; "
                          "VGCA: DocNumber), unless the profile sets numbers_by_hand = true",
                          vi=f"mẫu chữ ký {profile.name} cần số văn bản (doc_number; "
                             "VGCA: DocNumber), trừ khi mẫu đặt numbers_by_hand = true")


def plan_block(data: bytes, writer: IncrementalPdfFileWriter, profile: Profile, options: PdfSignOptions) -> PdfPlan:
    """Where ``profile``'s block goes in the parsed document (its text read once for the
    block and the header)."""
    if any("{comment}" in line for line in profile.lines) and not options.comment.strip():
        raise SignerError(Code.BAD_REQUEST, f"profile {profile.name} shows a comment, and the comment is empty",
                          vi=f"mẫu chữ ký {profile.name} có hiển thị ý kiến nhưng ý kiến để trống")
    with reading():
        refs = page_refs(writer)
        text = PageText(data, [ref.idnum for ref in refs])
        spot = place(text, writer, profile, options.placement)
        header = None
        if profile.fill_header and (options.doc_number or options.issued_date):
            header = plan_header(text, writer, refs, options.doc_number, options.issued_date)
        elif profile.prepare_header:
            header = plan_empty_fields(text, writer, refs)
    return PdfPlan(spot, header)


def prepare_pdf(
    data: bytes,
    key: SigningKey | KeyOutline,
    options: PdfSignOptions = PdfSignOptions(),
    *,
    signing_time: datetime | None = None,
    bytes_reserved: int,
    parsed: IncrementalPdfFileWriter | None = None,
    plan: PdfPlan | None = None,
) -> PreparedPdf:
    """Add the signature field and placeholder, and hash the signed byte ranges (no token call).

    ``parsed``: the result of ``open_pdf(data)`` when the caller already checked the document;
    ``plan``: the result of ``plan_pdf`` when the caller placed the block already.
    """
    writer = parsed or open_pdf(data)
    with reading():
        return _prepare(data, writer, key, options, signing_time or cms.signing_time_now(), bytes_reserved, plan)


def _prepare(data: bytes, writer: IncrementalPdfFileWriter, key: SigningKey | KeyOutline, options: PdfSignOptions,
             signing_time: datetime, bytes_reserved: int, plan: PdfPlan | None) -> PreparedPdf:
    field_name = options.field_name or fresh_field_name(writer)
    profile = _profile(options.profile)
    options = with_holder(options, key.certificate)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=cms.DIGEST,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=options.reason or (profile.title if profile else None),
        location=options.location,
        name=holder_name(key.certificate),
    )
    placeholder_signer = signers.ExternalSigner(
        signing_cert=key.certificate,
        cert_registry=None,
        signature_value=bytes(key.signature_size),
    )
    text_params = None
    try:
        if profile is None:
            pdf_signer = signers.PdfSigner(meta, signer=placeholder_signer)
        else:
            plan = plan or plan_block(data, writer, profile, options)
            facts = block_facts(key, options, signing_time)
            block = appearance.block(profile, facts, options.image, plan.spot.size,
                                     fitted=plan.spot.fitted)
            text_params = {"block": block.text}
            pdf_signer = signers.PdfSigner(meta, signer=placeholder_signer,
                                           **_placed(writer, plan, block, field_name))
        session = pdf_signer.init_signing_session(writer)
        tbs = session.prepare_tbs_document(
            validation_info=None, bytes_reserved=bytes_reserved, appearance_text_params=text_params,
        )
        output = io.BytesIO()
        byte_range_digest, _ = tbs.digest_tbs_document(output=output)
    except SigningError as exc:
        raise SignerError(Code.SIGNING_FAILED, reason(exc), vi=f"thư viện ký PDF báo lỗi: {reason(exc)}") from None
    return PreparedPdf(
        output=output,
        byte_range_digest=byte_range_digest,
        field_name=field_name,
        signing_time=signing_time,
        input_sha256=hashlib.sha256(data).hexdigest(),
        pages=page_count(writer),
        spot=plan.spot if plan is not None else None,
    )


def with_holder(options: PdfSignOptions, certificate: x509.Certificate) -> PdfSignOptions:
    """``options`` whose placement may look for the certificate's title and printed name."""
    if options.placement.holder is not None:
        return options
    names = certificate.subject.native
    holder = Holder(title=str(names.get("title") or ""), name=str(names.get("common_name") or ""))
    return replace(options, placement=replace(options.placement, holder=holder))


def block_facts(key: SigningKey | KeyOutline, options: PdfSignOptions, time: datetime) -> appearance.BlockFacts:
    """What the block says: the certificate's holder and organisation, the time, the options' text."""
    return appearance.BlockFacts(
        signer=holder_name(key.certificate), organisation=options.organisation or _organisation(key), time=time,
        doc_number=options.doc_number, issued_date=options.issued_date, copy_form=options.copy_form,
        comment=options.comment)


def page_count(writer: IncrementalPdfFileWriter) -> int:
    """Pages of a document ``open_pdf`` accepted (it checked the page tree)."""
    return int(writer.root["/Pages"].get_object()["/Count"])


def _placed(writer: IncrementalPdfFileWriter, plan: PdfPlan, block: appearance.Block, field_name: str) -> dict:
    """The stamp style and the new field for a visible signature (and the header's fields,
    in the same update). The field is created with a rectangle of the block's displayed
    size (pyHanko sizes the appearance from it); the placed style then moves it to its
    place in the page's own coordinates."""
    refs = page_refs(writer)
    if plan.header is not None:
        write_header(writer, plan.header, lambda index: page_space(refs[index]))
    width, height = plan.spot.size
    space = page_space(refs[plan.spot.page])
    x, y = space.rect_to_user(plan.spot.box)[:2]
    return {
        "stamp_style": PlacedStyle(block.style, plan.spot.box, space),
        # pyHanko takes any numbers here, though its annotation says int
        "new_field_spec": fields.SigFieldSpec(field_name, on_page=plan.spot.page,
                                              box=(x, y, x + width, y + height)),  # type: ignore[arg-type]
    }


def finish_pdf(prepared: PreparedPdf, signature_cms: bytes) -> bytes:
    """Embed the CMS into the placeholder; returns the signed document."""
    try:
        prepared.byte_range_digest.fill_with_cms(prepared.output, signature_cms)
    except SigningError as exc:
        raise SignerError(Code.SIGNING_FAILED, reason(exc), vi=f"thư viện ký PDF báo lỗi: {reason(exc)}") from None
    return prepared.output.getvalue()


async def sign_pdf(
    data: bytes,
    key: SigningKey,
    options: PdfSignOptions = PdfSignOptions(),
    *,
    bytes_reserved: int | None = None,
    parsed: IncrementalPdfFileWriter | None = None,
    plan: PdfPlan | None = None,
    tsa: levels.TsaClient | None = None,
    evidence: Evidence | None = None,
) -> SignedPdf:
    """Sign one PDF: prepare (off the event loop), then ``complete_pdf``. ``evidence``: the
    revocation answers of the certificate's check, which levels B-LT and B-LTA embed."""
    level = ready_level(options, evidence, tsa)
    prepared = await asyncio.to_thread(
        prepare_pdf, data, key, options, bytes_reserved=reserve_for(key, level, bytes_reserved), parsed=parsed,
        plan=plan)
    return await complete_pdf(prepared, key, level, tsa, evidence)


def ready_level(options: PdfSignOptions, evidence: Evidence | None, tsa: levels.TsaClient | None) -> str:
    """The level to sign at, refused before any work when what it needs is missing."""
    level = signature_level(options)
    if levels.timestamped(level) and tsa is None:
        raise SignerError(Code.CONFIG_INVALID, f"level {level} needs a timestamp authority ([timestamp] url)",
                          vi=f"mức {level} cần máy chủ cấp dấu thời gian ([timestamp] url)")
    if levels.long_term(level) and not (evidence and evidence.complete):
        raise SignerError(Code.REVOCATION_UNKNOWN, f"level {level} needs revocation data for the whole chain",
                          vi=f"mức {level} cần dữ liệu thu hồi cho cả chuỗi chứng thư số")
    return level


def reserve_for(key: SigningKey, level: str, bytes_reserved: int | None = None) -> int:
    return (bytes_reserved or reserved_size(key)) + (levels.TIMESTAMP_ROOM if levels.timestamped(level) else 0)


async def complete_pdf(prepared: PreparedPdf, key: SigningKey, level: str, tsa: levels.TsaClient | None,
                       evidence: Evidence | None = None) -> SignedPdf:
    """The token signature over the signed attributes, the CMS, and what the level adds
    (timestamp, validation data, document timestamp)."""
    attributes = cms.signed_attributes(prepared.document_digest, key.certificate, prepared.signing_time)
    signature = await key.sign_digest(cms.attributes_digest(attributes), cms.DIGEST)
    container = cms.signed_data(key, attributes, signature)
    token = None
    if tsa is not None and levels.timestamped(level):
        token = await levels.signature_timestamp(tsa, signature)
        container = levels.with_timestamp(container, token)
    signed = finish_pdf(prepared, container.dump())
    if levels.long_term(level):
        signed = await asyncio.to_thread(levels.add_validation_data, signed, key, token, evidence)
    if tsa is not None and level == "B-LTA":
        signed = await levels.add_document_timestamp(signed, tsa)
    return SignedPdf(
        data=signed,
        field_name=prepared.field_name,
        signing_time=prepared.signing_time,
        input_sha256=prepared.input_sha256,
        signer=holder_name(key.certificate),
        level=level,
        spot=prepared.spot,
        repaired_sha256=prepared.input_sha256 if prepared.repaired else None,
    )


def signature_level(options: PdfSignOptions) -> str:
    """The level these options sign at; options no signature may take are refused here too."""
    profile = _profile(options.profile)
    if profile is not None:
        check_number(profile, options)
    return levels.check_level(options.level or (profile.level if profile else "B-B"))


def _field_names(writer: IncrementalPdfFileWriter):
    try:
        form = writer.root.get("/AcroForm")
        if form is None:
            return
        for ref in form.get_object().get("/Fields", generic.ArrayObject()):
            name = ref.get_object().get("/T")
            if name is not None:
                yield str(name)
    except (misc.PdfError, KeyError, TypeError, AttributeError):
        return


def _profile(name: str | None) -> Profile | None:
    if name is None:
        return None
    try:
        return load_profile(name)
    except KeyError:
        raise SignerError(Code.BAD_REQUEST, f"unknown profile {name} (known: {', '.join(profile_names())})",
                          vi=f"không có mẫu chữ ký {name} (các mẫu đã có: {', '.join(profile_names())})") from None
    except ValueError as exc:
        raise SignerError(Code.CONFIG_INVALID, str(exc), vi=vietnamese(exc, "lỗi trong tệp mẫu chữ ký")) from None


def _organisation(key: SigningKey | KeyOutline) -> str:
    names = key.certificate.subject.native
    return names.get("organization_name") or names.get("common_name") or ""

