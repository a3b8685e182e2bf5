"""A raw signature over a digest the caller computed (the VGCA SignMsg path).

Unlike the PDF and CMS paths, the daemon does not see the document here: the
API exposes this only as a separate, explicitly consented operation.
"""

from __future__ import annotations

from ..errors import Code, SignerError
from .key import SigningKey

DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def check_digest(digest: bytes, algorithm: str) -> str:
    """The normalised algorithm name, if ``digest`` fits it."""
    algorithm = algorithm.lower().replace("-", "")
    expected = DIGEST_SIZES.get(algorithm)
    if expected is None:
        raise SignerError(Code.DOCUMENT_INVALID, f"unsupported digest algorithm {algorithm}",
                          vi=f"không hỗ trợ thuật toán băm {algorithm}")
    if len(digest) != expected:
        raise SignerError(Code.DOCUMENT_INVALID, f"a {algorithm} digest has {expected} bytes, not {len(digest)}",
                          vi=f"giá trị băm {algorithm} phải có {expected} byte, không phải {len(digest)}")
    return algorithm


async def sign_digest(digest: bytes, key: SigningKey, algorithm: str = "sha256") -> bytes:
    """PKCS#1 v1.5 (RSA) or DER-encoded ECDSA signature over ``digest``."""
    return await key.sign_digest(digest, check_digest(digest, algorithm))
