"""Independent checks of signed PDFs: pdfsig (poppler/NSS), qpdf, and a look inside the CMS."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import pypdfium2 as pdfium
from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext


def pdfsig_report(path: Path) -> str:
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def assert_pdfsig_all_valid(path: Path, expected: int) -> None:
    report = pdfsig_report(path)
    assert report.count("Signature Validation: Signature is Valid.") == expected, report
    assert "Signature is Invalid" not in report


def flattened_text(data: bytes, page: int) -> str:
    """The page's text with the annotations' appearances merged in (pdfium), read by pdftotext."""
    document = pdfium.PdfDocument(data)
    # PDFium's own flattening (pypdfium2's wrapper insists on a form, which not every document has)
    flattened = document[page - 1]
    pdfium.raw.FPDFPage_Flatten(flattened.raw, pdfium.raw.FLAT_NORMALDISPLAY)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as flat:
        document.save(flat)
        flat.flush()
        return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), flat.name, "-"],
                              capture_output=True, text=True, check=True).stdout


def assert_qpdf_clean(path: Path) -> None:
    done = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def load_cert(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def validate_all(data: bytes, root: Path) -> list:
    """pyHanko's validator with the test root as the only trust anchor (no network)."""
    reader = PdfFileReader(io.BytesIO(data))
    statuses = []
    for sig in reader.embedded_signatures:
        context = ValidationContext(trust_roots=[load_cert(root)], allow_fetching=False,
                                    revocation_mode="soft-fail")
        statuses.append(validate_pdf_signature(sig, context))
    return statuses


def embedded_signatures(data: bytes):
    return PdfFileReader(io.BytesIO(data)).embedded_signatures
