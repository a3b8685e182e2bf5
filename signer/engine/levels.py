"""PAdES levels beyond the basic signature.

- B-T: an RFC 3161 timestamp over the signature value, as an unsigned attribute;
- B-LT: then the chain and the revocation answers the pre-sign check relied on, in the
  document's security store (``/DSS``), in a further incremental update;
- B-LTA: then a document timestamp (``/DocTimeStamp``) over all of it.
"""

from __future__ import annotations

import hashlib
import io

import aiohttp
from asn1crypto import cms, tsp
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation import DocumentSecurityStore

from policies.profiles import LEVELS
from policies.revocation import RevocationPolicy

from ..errors import Code, SignerError
from ..validation.fetch import FetchFailed, fetch
from ..validation.revocation import Evidence
from ..waits import TIMESTAMP
from .key import SigningKey

TIMESTAMP_ROOM = 2 * 12 * 1024  # hex digits reserved for a timestamp token (TSA chains run to a few KB)


class TsaClient(TimeStamper):
    """pyHanko's timestamp client, asking over our HTTP (policy timeouts and retries)."""

    def __init__(self, url: str, policy: RevocationPolicy) -> None:
        super().__init__()
        self.url = url
        self.policy = policy

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            async with aiohttp.ClientSession() as session:
                der = await fetch(session, self.url, self.policy, body=req.dump(),
                                  content_type="application/timestamp-query",
                                  timeout_s=self.policy.tsa_timeout_s, retries=self.policy.tsa_retries,
                                  kind=TIMESTAMP)
            return tsp.TimeStampResp.load(der)
        except (FetchFailed, ValueError) as exc:
            raise TimestampRequestError(str(exc)) from None


def tsa_client(url: str | None, policy: RevocationPolicy) -> TsaClient | None:
    return TsaClient(url, policy) if url else None


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise SignerError(Code.BAD_REQUEST, f"level must be one of {', '.join(LEVELS)}, not {level!r}",
                          vi=f"mức chữ ký phải là một trong {', '.join(LEVELS)}, không phải {level!r}")
    return level


def timestamped(level: str) -> bool:
    return LEVELS.index(level) >= 1


def long_term(level: str) -> bool:
    return LEVELS.index(level) >= 2


async def signature_timestamp(tsa: TsaClient, signature: bytes) -> cms.ContentInfo:
    """A timestamp token over the signature value (CAdES signature-time-stamp)."""
    try:
        return await tsa.async_timestamp(hashlib.sha256(signature).digest(), "sha256")
    except (TimestampRequestError, SigningError, ValueError) as exc:
        raise SignerError(Code.TIMESTAMP_FAILED, f"{tsa.url}: {str(exc)[:200]}",
                          vi=f"{tsa.url}: {str(exc)[:200]}") from None


def with_timestamp(container: cms.ContentInfo, token: cms.ContentInfo) -> cms.ContentInfo:
    signer_info = container["content"]["signer_infos"][0]
    signer_info["unsigned_attrs"] = cms.CMSAttributes(
        [cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]})])
    return container


def add_validation_data(data: bytes, key: SigningKey, token: cms.ContentInfo | None,
                        evidence: Evidence | None) -> bytes:
    """The chain (and the TSA's certificates) and the revocation answers, as a /DSS update."""
    if evidence is None or not evidence.complete:
        raise SignerError(Code.REVOCATION_UNKNOWN,
                          "level B-LT needs revocation data for every certificate of the chain",
                          vi="mức B-LT cần dữ liệu thu hồi cho mọi chứng thư số trong chuỗi")
    certs = [key.certificate, *key.chain]
    if token is not None:
        certs += list(token["content"]["certificates"] or [])
    out = io.BytesIO(data)
    try:
        DocumentSecurityStore.add_dss(
            out, None, certs=[c.chosen if isinstance(c, cms.CertificateChoices) else c for c in certs],
            ocsps=[asn1_ocsp.OCSPResponse.load(d) for d in evidence.ocsp],
            crls=[asn1_crl.CertificateList.load(d) for d in evidence.crls])
    except (misc.PdfError, ValueError, KeyError, TypeError) as exc:
        raise SignerError(Code.SIGNING_FAILED, f"validation data: {str(exc)[:200]}",
                          vi=f"dữ liệu phục vụ kiểm tra chữ ký: {str(exc)[:200]}") from None
    return out.getvalue()


async def add_document_timestamp(data: bytes, tsa: TsaClient) -> bytes:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        out = await PdfTimeStamper(tsa).async_timestamp_pdf(writer, "sha256", bytes_reserved=TIMESTAMP_ROOM,
                                                            output=io.BytesIO())
    except (TimestampRequestError, SigningError) as exc:
        raise SignerError(Code.TIMESTAMP_FAILED, f"{tsa.url}: {str(exc)[:200]}",
                          vi=f"{tsa.url}: {str(exc)[:200]}") from None
    except (misc.PdfError, ValueError, KeyError, TypeError) as exc:
        raise SignerError(Code.SIGNING_FAILED, f"document timestamp: {str(exc)[:200]}",
                          vi=f"dấu thời gian cho văn bản: {str(exc)[:200]}") from None
    return out.getvalue()
