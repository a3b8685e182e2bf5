"""What every key knows from its certificate alone (a token's and a remote service's alike)."""

from __future__ import annotations

from asn1crypto import x509


class CertificateFacts:
    """For a key class with a ``certificate`` attribute: the key's algorithm and the room its
    raw signatures take."""

    certificate: x509.Certificate

    @property
    def algorithm(self) -> str:
        return self.certificate.public_key.algorithm  # "rsa" or "ec"

    @property
    def signature_size(self) -> int:
        """Upper bound of a raw signature's DER size, for reserving space."""
        bits = self.certificate.public_key.bit_size
        return (bits + 7) // 8 if self.algorithm == "rsa" else 2 * ((bits + 7) // 8) + 9
