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

Fresh answers are used when they come. When they do not (a responder unreachable, slow past
the signature's budget, answering an error, or refused by the policy) and the online verdict
is therefore INDETERMINATE, the signature is judged again from the document's own evidence
alone (its DSS, the signature's adbe-revocationInfoArchival attribute and the CMS revocation
info), exactly as ``--offline`` judges it: pyHanko, once a fetch fails, leaves the document's
answers aside. Each report says which evidence its verdict rests on and why the online
answers were not.
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
from pyhanko.sign.general import (
    MultivaluedAttributeError,
    NonexistentAttributeError,
    find_unique_cms_attribute,
)
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
from .fetch_policy import FETCHED, REFUSED, Fetch, FetchPolicy
from .policed_fetch import PolicedFetcherBackend

PASSED, INDETERMINATE, FAILED = "TOTAL-PASSED", "INDETERMINATE", "TOTAL-FAILED"
# Whether the authorities were asked about a signature: under the URL policy, not at all
# (offline, or no policy given), or not at all because its chain leads to no configured anchor.
ONLINE, OFFLINE, UNTRUSTED_CHAIN = "online", "offline", "untrusted-chain"
# The revocation answers a verdict rests on: fresh ones from the authorities, the document's
# own (DSS, embedded in the signature), or none at all.
FROM_ONLINE, FROM_DOCUMENT, FROM_NONE = "online", "document", "none"
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
    revocation_source: str = FROM_NONE  # FROM_ONLINE, FROM_DOCUMENT or FROM_NONE
    online_failure: str | None = None  # why the online answers were not relied on, when asked for

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


@dataclass(frozen=True)
class _Verdict:
    indication: str
    sub_indication: str | None
    details: list[str]
    revocation: str


async def _report(sig: EmbeddedPdfSignature, document_timestamps: list, dss: LocalKnowledge, anchors,
                  intermediates, fetcher: PolicedFetcherBackend | None) -> SignatureReport:
    """``fetcher``: the document's, used for this signature only if its chain is anchored."""
    status = await async_validate_pdf_signature(sig, ValidationContext(
        trust_roots=list(anchors), other_certs=[*intermediates, *dss.known_certs], allow_fetching=False,
        revocation_mode="soft-fail"))
    backend = fetcher if fetcher is not None and _anchored(status) else None
    evidence = _evidence(sig, dss)
    own = FROM_DOCUMENT if evidence.known_ocsps or evidence.known_crls else FROM_NONE
    source, failure = own, None
    if backend is None:
        verdict = await _verdict(sig, status, document_timestamps, evidence, anchors, intermediates, None)
        fetches: list[Fetch] = []
    else:
        asked_before = len(backend.fetches)
        backend.begin_signature()
        verdict = await _verdict(sig, status, document_timestamps, evidence, anchors, intermediates, backend)
        fetches = backend.fetches[asked_before:]
        unanswered = [f for f in fetches if f.outcome != FETCHED]
        if verdict.indication == INDETERMINATE and unanswered:  # judged again by the document alone
            failure = "; ".join(dict.fromkeys(f"{f.url}: {f.reason}" for f in unanswered))
            verdict = await _verdict(sig, status, document_timestamps, evidence, anchors, intermediates, None)
            verdict = dataclasses.replace(verdict, details=[*verdict.details, _fallback_detail(own)])
        elif any(f.outcome == FETCHED for f in fetches):
            source = FROM_ONLINE
    fetching = OFFLINE if fetcher is None else ONLINE if backend is not None else UNTRUSTED_CHAIN
    cert = status.signing_cert
    path = status.validation_path
    timestamp_ok = _timestamp_ok(status)
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
        revocation=verdict.revocation,
        level=_level(sig, status, document_timestamps, dss),
        indication=verdict.indication,
        sub_indication=verdict.sub_indication,
        details=verdict.details + _fetch_details(fetching, fetches),
        fetching=fetching,
        fetches=fetches,
        revocation_source=source,
        online_failure=failure,
    )


async def _verdict(sig: EmbeddedPdfSignature, status, document_timestamps: list, evidence: LocalKnowledge,
                   anchors, intermediates, backend: PolicedFetcherBackend | None) -> _Verdict:
    """The signature judged with fresh answers from ``backend``, or (None) the document's ``evidence`` alone."""
    if _timestamp_ok(status):
        verdict = await _with_time(sig, evidence, anchors, intermediates, backend)
        if verdict.ades_subindic.status != AdESStatus.PASSED and _later_timestamps(sig, document_timestamps):
            # proofs from the past (pyHanko adds the DSS and the signature's archival attribute itself)
            verdict = await ades_lta_validation(sig, _spec(anchors, intermediates, backend, _cms_revinfo(sig)))
        indication, sub, details = _indication(status, verdict.ades_subindic, verdict.failure_msg)
        return _Verdict(indication, sub, details, _revocation(verdict.ades_subindic))
    now = await async_validate_pdf_signature(sig, ValidationContext(
        trust_roots=list(anchors), other_certs=[*intermediates, *evidence.known_certs],
        allow_fetching=backend is not None, fetcher_backend=backend, revocation_mode="hard-fail",
        crls=[] if backend is not None else [c.crl_data for c in evidence.known_crls],
        ocsps=[] if backend is not None else [o.ocsp_response_data for o in evidence.known_ocsps]))
    subindic = AdESPassed.OK if now.bottom_line else now.trust_problem_indic or AdESIndeterminate.GENERIC
    indication, sub, details = _indication(status, subindic, None)
    return _Verdict(indication, sub, details, "good" if now.bottom_line else _revocation(subindic))


def _level(sig: EmbeddedPdfSignature, status, document_timestamps: list, dss: LocalKnowledge) -> str:
    """What the document proves on its own: B-T with a valid signature timestamp, B-LT when its
    security store holds the chain's validation data, B-LTA when a document timestamp covers them."""
    if not _timestamp_ok(status):
        return "B-B"
    if status.validation_path is None or not _carries_validation_data(dss, list(status.validation_path)):
        return "B-T"
    return "B-LTA" if _later_timestamps(sig, document_timestamps) else "B-LT"


def _timestamp_ok(status) -> bool:
    return bool(status.timestamp_validity and status.timestamp_validity.valid and status.timestamp_validity.intact)


def _later_timestamps(sig: EmbeddedPdfSignature, document_timestamps: list) -> bool:
    return any(ts.signed_revision > sig.signed_revision for ts in document_timestamps)


def _fallback_detail(own: str) -> str:
    if own == FROM_DOCUMENT:
        return "the authorities gave no answer: judged by the document's own validation data"
    return "the authorities gave no answer, and the document carries no revocation data"


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
    spec = _spec(anchors, intermediates, backend, knowledge).signature_validation_spec
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


def _evidence(sig: EmbeddedPdfSignature, dss: LocalKnowledge) -> LocalKnowledge:
    """What the document itself says about revocation for ``sig``: its security store, the
    signature's adbe-revocationInfoArchival attribute and the CMS revocation info."""
    archived, cms_info = _archival(sig), _cms_revinfo(sig)
    return LocalKnowledge(known_certs=dss.known_certs,
                          known_ocsps=[*dss.known_ocsps, *archived.known_ocsps, *cms_info.known_ocsps],
                          known_crls=[*dss.known_crls, *archived.known_crls, *cms_info.known_crls])


def _archival(sig: EmbeddedPdfSignature) -> LocalKnowledge:
    try:
        archival = find_unique_cms_attribute(sig.signer_info["signed_attrs"], "adobe_revocation_info_archival")
        return LocalKnowledge(known_ocsps=[c for o in archival["ocsp"] for c in OCSPContainer.load_multi(o)],
                              known_crls=[CRLContainer(crl_data=c) for c in archival["crl"]])
    except (MultivaluedAttributeError, NonexistentAttributeError, ValueError, KeyError, TypeError):
        return LocalKnowledge()


def _cms_revinfo(sig: EmbeddedPdfSignature) -> LocalKnowledge:
    """The CMS SignedData's own revocation info (CRLs, and OCSP answers as "other" revocation info)."""
    ocsps, crls = [], []
    try:
        for choice in sig.signed_data["crls"] or []:
            if choice.name == "crl":
                crls.append(CRLContainer(crl_data=choice.chosen))
            elif choice.chosen["other_rev_info_format"].native == "ocsp_response":
                ocsps += OCSPContainer.load_multi(choice.chosen["other_rev_info"])
    except (ValueError, KeyError, TypeError):
        return LocalKnowledge()
    return LocalKnowledge(known_ocsps=ocsps, known_crls=crls)


def _spec(anchors, intermediates, backend: PolicedFetcherBackend | None, knowledge: LocalKnowledge
          ) -> PdfSignatureValidationSpec:
    return PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=list(anchors)), revinfo_policy=REVOCATION),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH if backend is not None
            else RevinfoOnlineFetchingRule.LOCAL_ONLY,
            fetcher_backend=backend),
        local_knowledge=LocalKnowledge(known_certs=[*intermediates, *knowledge.known_certs],
                                       known_ocsps=knowledge.known_ocsps, known_crls=knowledge.known_crls),
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
