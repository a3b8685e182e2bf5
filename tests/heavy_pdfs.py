"""Heavy and hostile PDF documents, written as plain bytes: many pages, a huge cross-reference
table, a decompression bomb, a large scanned document. For the document-worker tests and
bench/hostile_load.py."""

from __future__ import annotations

import io
import random
import zlib

PAGE = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents %d 0 R >>")
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def pdf_bytes(objects: list[bytes], extra_entries: int = 0) -> bytes:
    """Objects 1..n (object 1 the catalogue) with a classic cross-reference table; ``extra_entries``
    more entries in it, all naming the last object (a table far larger than the document)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    table = out.tell()
    size = len(objects) + 1 + extra_entries
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write((b"%010d 00000 n \n" % offsets[-1]) * extra_entries)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, table))
    return out.getvalue()


def stream(data: bytes, *, dictionary: bytes = b"") -> bytes:
    packed = zlib.compress(data)
    return b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n%s\nendstream" % (len(packed), dictionary, packed)


def many_pages(count: int) -> bytes:
    """``count`` pages of text sharing one content stream, none with a signature block's anchor."""
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(count))
    return pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
                      FONT, stream(b"BT /F1 11 Tf 72 720 Td (Van ban so hoa, trang nay khong co cho ky) Tj ET"),
                      *[PAGE % 4] * count])


def huge_table(entries: int) -> bytes:
    """A one-page document whose cross-reference table has ``entries`` entries (reading it takes
    about 3 s of processor time and 250 MB per million)."""
    return pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                      b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"], entries)


def flate_bomb(decoded_mb: int) -> bytes:
    """One page whose content stream (spaces) inflates to ``decoded_mb`` megabytes, about 1,000 times its size."""
    packer = zlib.compressobj(9)
    block = b" " * (1024 * 1024)
    packed = b"".join(packer.compress(block) for _ in range(decoded_mb)) + packer.flush()
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)
    return pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>", FONT,
                      content, PAGE % 4])


def scanned(megabytes: float, pages: int = 30) -> bytes:
    """A scanned document of about ``megabytes``: each page one greyscale JPEG of noise (which no
    compression shrinks), with a line of text."""
    from PIL import Image

    noise = random.Random(1)
    width = int((megabytes * 1024 * 1024 / pages / 1.414) ** 0.5)  # noise at quality 95: about a byte a pixel
    height = int(width * 1.414)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT]
    kids = []
    for page in range(pages):
        out = io.BytesIO()
        Image.frombytes("L", (width, height), noise.randbytes(width * height)).save(out, "JPEG", quality=95)
        jpeg = out.getvalue()
        objects.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                       b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
                       % (width, height, len(jpeg), jpeg))
        objects.append(stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q BT /F1 10 Tf 40 20 Td (Trang %d) Tj ET" % (page + 1)))
        image = b">> /XObject << /Im0 %d 0 R >> >>" % (len(objects) - 1)
        objects.append(PAGE.replace(b">> >>", image, 1) % len(objects))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), pages)
    return pdf_bytes(objects)
