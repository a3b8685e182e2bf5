"""Verifying the signatures of a PDF: a report per signature, in ETSI terms.

pyHanko does the work: integrity, the chain to our trust anchors, the difference analysis
of what changed after each signature, and the AdES long-term validation of ETSI EN 319
102-1 (revocation judged at the time the signature is proven to have existed, from the
data embedded in the document and, where it lacks some, from the authorities online).
The level a signature reaches is what its embedded data proves without any network:
B-T with a valid signature timestamp, B-LT when the embedded validation data suffice,
B-LTA when a document timestamp covers them.

The authorities are asked only under the URL policy (``fetch_policy``, ``policed_fetch``),
and only about a signer whose chain leads to a configured trust anchor on the certificates
at hand: the issuers of an unknown chain are never chased. Each report lists what was
fetched and what the policy refused.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509
from asn1crypto.crl import CertificateList
from asn1crypto.ocsp import OCSPResponse
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature
from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import (
    AdESFailure,
    AdESIndeterminate,
    AdESPassed,
    AdESStatus,
    AdESSubIndic,
)
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.ades import ades_lta_validation, ades_with_time_validation
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
)
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from ..certificates import holder_name
from ..engine import decoding
from ..engine.reading import reading
from ..errors import Code, SignerError
from .fetch_policy import REFUSED, Fetch, FetchPolicy
from .policed_fetch import PolicedFetcherBackend

PASSED, INDETERMINATE, FAILED = "TOTAL-PASSED", "INDETERMINATE", "TOTAL-FAILED"
# Whether the authorities were asked about a signature: under the URL policy, not at all
# (offline, or no policy given), or not at all because its chain leads to no configured anchor.
ONLINE, OFFLINE, UNTRUSTED_CHAIN = "online", "offline", "untrusted-chain"
# Revocation must be checked where a certificate says how (OCSP or CRL); a certificate
# that names no service (a root, most TSAs) needs none.
# What ends the reading of the whole document rather than making one signature's report a failure.
OVERRUNS = (MemoryError, RecursionError, misc.PdfDecodeLimitError, decoding.DecodeLimitExceeded)
REVOCATION = CertRevTrustPolicy(RevocationCheckingPolicy(RevocationCheckingRule.CHECK_IF_DECLARED,
                                                         RevocationCheckingRule.CHECK_IF_DECLARED))


@dataclass(frozen=True)
class SignatureReport:
    field: str
    signer: str
    signer_subject: str
    chain: list[str]  # subjects from the signer up
    signing_time: str | None  # as the signer claims it
    timestamp: str | None  # as a timestamp authority proves it
    intact: bool  # the signed bytes are unchanged
    valid: bool  # the cryptographic signature checks out
    trusted: bool  # the signer's chain reaches a configured trust anchor
    coverage: str  # ENTIRE_FILE, ENTIRE_REVISION, ...
    modification_level: str | None  # what changed after it: NONE, LTA_UPDATES, FORM_FILLING, ... OTHER
    revocation: str  # the signer's status at signing time: good, revoked or unknown
    level: str  # B-B, B-T, B-LT, B-LTA (what the document alone proves)
    indication: str  # TOTAL-PASSED, INDETERMINATE or TOTAL-FAILED
    sub_indication: str | None
    details: list[str] = dataclasses.field(default_factory=list)  # (a field is named 'field')
    fetching: str = OFFLINE  # ONLINE, OFFLINE or UNTRUSTED_CHAIN
    fetches: list[Fetch] = dataclasses.field(default_factory=list)  # each URL wanted, in order

    @property
    def passed(self) -> bool:
        return self.indication == PASSED


@dataclass(frozen=True)
class _Document:
    """What the signatures are judged from, read once."""

    signatures: list[EmbeddedPdfSignature]
    document_timestamps: list[EmbeddedPdfSignature]
    dss: LocalKnowledge  # the document's security store


async def averify_pdf(data: bytes, anchors: Sequence[x509.Certificate], intermediates: Sequence[x509.Certificate],
                      *, online: bool = True, timeout_s: float = 20.0,
                      policy: FetchPolicy | None = None) -> list[SignatureReport]:
    """A report per signature; raises DOCUMENT_INVALID / DOCUMENT_ENCRYPTED / DOCUMENT_TOO_COMPLEX.
    ``online``: the authorities are asked, under ``policy`` only (without one, nothing is fetched).
    The document is read in the calling thread (the daemon's in a document worker process, under
    its budget), all of it inside ``reading()`` and with the configured decoding caps."""
    with reading():
        document = _read(data)
        backend = PolicedFetcherBackend(policy, timeout_s) if online and policy is not None else None
        try:
            reports = []
            for sig in document.signatures:
                try:
                    reports.append(await _report(sig, document.document_timestamps, document.dss, anchors,
                                                 intermediates, backend))
                except OVERRUNS:  # the document's, not one signature's: it is refused
                    raise
                except Exception as exc:  # noqa: BLE001 - a signature pyHanko cannot read is a failed report
                    reports.append(_broken(sig, exc))
            return reports
        finally:
            if backend is not None:
                await backend.close()


def _read(data: bytes) -> _Document:
    reader = PdfFileReader(io.BytesIO(data), strict=False, decode_limits=decoding.pyhanko_limits())
    if reader.encrypted:
        raise SignerError(Code.DOCUMENT_ENCRYPTED)
    signatures = reader.embedded_regular_signatures
    document_timestamps = reader.embedded_timestamp_signatures
    dss = _dss_knowledge(reader) if signatures else LocalKnowledge()
    return _Document(signatures, document_timestamps, dss)


async def _report(sig: EmbeddedPdfSignature, document_timestamps: list, dss: LocalKnowledge, anchors,
                  intermediates, fetcher: PolicedFetcherBackend | None) -> SignatureReport:
    """``fetcher``: the document's, used for this signature only if its chain is anchored."""
    status = await async_validate_pdf_signature(sig, ValidationContext(
        trust_roots=list(anchors), other_certs=[*intermediates, *dss.known_certs], allow_fetching=False,
        revocation_mode="soft-fail"))
    backend = fetcher if fetcher is not None and _anchored(status) else None
    asked_before = len(backend.fetches) if backend is not None else 0
    cert = status.signing_cert
    timestamp_ok = bool(status.timestamp_validity and status.timestamp_validity.valid
                        and status.timestamp_validity.intact)
    later_timestamps = any(ts.signed_revision > sig.signed_revision for ts in document_timestamps)
    if timestamp_ok:
        verdict = await _with_time(sig, dss, anchors, intermediates, backend)
        if verdict.ades_subindic.status != AdESStatus.PASSED and later_timestamps:
            verdict = await ades_lta_validation(sig, _spec(anchors, intermediates, backend))  # proofs from the past
        level = "B-T"
        if status.validation_path is not None and _carries_validation_data(dss, list(status.validation_path)):
            level = "B-LTA" if later_timestamps else "B-LT"
        indication, sub, details = _indication(status, verdict.ades_subindic, verdict.failure_msg)
        revocation = _revocation(verdict.ades_subindic)
    else:
        level = "B-B"
        now = await async_validate_pdf_signature(sig, ValidationContext(
            trust_roots=list(anchors), other_certs=list(intermediates), allow_fetching=backend is not None,
            fetcher_backend=backend, revocation_mode="hard-fail", crls=[], ocsps=[]))
        subindic = AdESPassed.OK if now.bottom_line else now.trust_problem_indic or AdESIndeterminate.GENERIC
        indication, sub, details = _indication(status, subindic, None)
        revocation = "good" if now.bottom_line else _revocation(subindic)
    fetching = OFFLINE if fetcher is None else ONLINE if backend is not None else UNTRUSTED_CHAIN
    fetches = backend.fetches[asked_before:] if backend is not None else []
    path = status.validation_path
    return SignatureReport(
        field=sig.field_name,
        signer=holder_name(cert),
        signer_subject=cert.subject.human_friendly,
        chain=[c.subject.human_friendly for c in reversed(list(path))] if path is not None else
        [cert.subject.human_friendly],
        signing_time=status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
        timestamp=(status.timestamp_validity.timestamp.isoformat()
                   if timestamp_ok and status.timestamp_validity else None),
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        coverage=status.coverage.name if status.coverage else "UNKNOWN",
        modification_level=status.modification_level.name if status.modification_level else None,
        revocation=revocation,
        level=level,
        indication=indication,
        sub_indication=sub,
        details=details + _fetch_details(fetching, fetches),
        fetching=fetching,
        fetches=fetches,
    )


def _anchored(status) -> bool:
    """Whether the signer's chain leads to a configured anchor on the certificates at hand (the
    document's and the configured ones), every signature on it verifying. Only then are the
    authorities asked anything: chasing the issuers of an unknown chain would send requests
    wherever the document's certificates point."""
    if status.trusted:
        return True
    if status.validation_path is None:  # no path: an untrusted (or unknown) chain
        return False
    # a path that did not validate (e.g. a certificate expired since) is still anchored, if it is one
    certificates = [crypto_x509.load_der_x509_certificate(c.dump()) for c in status.validation_path]  # anchor first
    try:
        for issuer, certificate in itertools.pairwise(certificates):
            certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _fetch_details(fetching: str, fetches: list[Fetch]) -> list[str]:
    if fetching == UNTRUSTED_CHAIN:
        return ["nothing was fetched: the signer's certificate chain does not lead to a configured trust anchor"]
    return [f"not fetched (URL policy): {f.url}: {f.reason}" for f in fetches if f.outcome == REFUSED]


async def _with_time(sig: EmbeddedPdfSignature, knowledge: LocalKnowledge, anchors, intermediates,
                     backend: PolicedFetcherBackend | None):
    """ETSI validation with the signature timestamp as proof of the signing time (current
    revocation data from ``backend``, or only what the document holds)."""
    spec = _spec(anchors, intermediates, backend).signature_validation_spec
    spec = dataclasses.replace(spec, local_knowledge=LocalKnowledge(
        known_certs=spec.local_knowledge.known_certs + knowledge.known_certs,
        known_ocsps=knowledge.known_ocsps, known_crls=knowledge.known_crls))
    return await ades_with_time_validation(sig.signed_data, spec, raw_digest=sig.compute_digest())


def _indication(status, verdict: AdESSubIndic, failure: str | None) -> tuple[str, str | None, list[str]]:
    """TOTAL-FAILED for a broken or changed document whatever else holds; otherwise the AdES verdict."""
    if not status.intact:
        return FAILED, AdESFailure.HASH_FAILURE.name, ["the signed bytes were changed"]
    if not status.valid:
        return FAILED, AdESFailure.SIG_CRYPTO_FAILURE.name, ["the signature value does not verify"]
    if status.modification_level == ModificationLevel.OTHER or status.docmdp_ok is False:
        return FAILED, AdESFailure.FORMAT_FAILURE.name, ["the document was changed after signing beyond what "
                                                         "signatures, form filling and validation data may add"]
    details = [failure] if failure else []
    if verdict.status == AdESStatus.PASSED:
        return PASSED, None, details
    return (FAILED if verdict.status == AdESStatus.FAILED else INDETERMINATE), verdict.standard_name, details


def _revocation(verdict: AdESSubIndic) -> str:
    if verdict.status == AdESStatus.PASSED:
        return "good"
    if verdict in (AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE):
        return "revoked"
    return "unknown"


def _carries_validation_data(knowledge: LocalKnowledge, path: list[x509.Certificate]) -> bool:
    """B-LT: the document's security store holds every certificate of the chain and, for each
    below the anchor, an OCSP answer about it or a CRL of its issuer."""
    known = {c.dump() for c in knowledge.known_certs}
    answered = set()
    for container in knowledge.known_ocsps:
        basic = container.ocsp_response_data["response_bytes"]["response"].parsed
        answered |= {(single["cert_id"]["serial_number"].native, single["cert_id"]["issuer_key_hash"].native)
                     for single in basic["tbs_response_data"]["responses"]}
    crl_issuers = {c.crl_data["tbs_cert_list"]["issuer"].dump() for c in knowledge.known_crls}
    upward = list(reversed(path))  # the signer first
    for certificate, issuer in zip(upward[:-1], upward[1:], strict=True):
        if certificate.dump() not in known and issuer.dump() not in known:
            return False
        if (certificate.serial_number, issuer.public_key.sha1) not in answered \
                and certificate.issuer.dump() not in crl_issuers:
            return False
    return True


def _dss_knowledge(reader: PdfFileReader) -> LocalKnowledge:
    """The certificates and revocation answers of the document's security store (none when it
    has no store, or one that cannot be read: the signatures are then judged without it)."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        return LocalKnowledge(
            known_ocsps=[c for r in dss.ocsps
                         for c in OCSPContainer.load_multi(OCSPResponse.load(r.get_object().data))],
            known_crls=[CRLContainer(crl_data=CertificateList.load(r.get_object().data)) for r in dss.crls],
            known_certs=list(dss.load_certs()))
    except OVERRUNS:
        raise
    except (NoDSSFoundError, misc.PdfError, ValueError, KeyError, TypeError):
        return LocalKnowledge()


def _spec(anchors, intermediates, backend: PolicedFetcherBackend | None) -> PdfSignatureValidationSpec:
    return PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=list(anchors)), revinfo_policy=REVOCATION),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH if backend is not None
            else RevinfoOnlineFetchingRule.LOCAL_ONLY,
            fetcher_backend=backend),
        local_knowledge=LocalKnowledge(known_certs=list(intermediates)),
    ))


def _broken(sig: EmbeddedPdfSignature, exc: Exception) -> SignatureReport:
    try:
        cert = sig.signer_cert
        signer, subject = holder_name(cert), cert.subject.human_friendly
    except Exception:  # noqa: BLE001 - the CMS itself is unreadable
        signer, subject = "", ""
    return SignatureReport(
        field=sig.field_name, signer=signer, signer_subject=subject, chain=[], signing_time=None, timestamp=None,
        intact=False, valid=False, trusted=False, coverage="UNKNOWN", modification_level=None, revocation="unknown",
        level="B-B", indication=FAILED, sub_indication=AdESFailure.FORMAT_FAILURE.name,
        details=[f"unreadable signature ({type(exc).__name__})"])
