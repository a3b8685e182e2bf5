"""signer sign: PAdES on PDFs from many producers, checked by pdfsig, qpdf and pyHanko."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import DOCUMENTS, GOOD_SAMPLES, DevEnv, assert_no_traceback
from pdf_checks import (
    assert_pdfsig_all_valid,
    assert_qpdf_clean,
    embedded_signatures,
    pdfsig_report,
    validate_all,
)


def test_samples_cover_the_producers() -> None:
    assert {"libreoffice.pdf", "pdflatex.pdf", "reportlab-10-pages.pdf", "form.pdf", "pdfa.pdf",
            "attachment.pdf", "already-signed.pdf", "incremental.pdf"} <= set(GOOD_SAMPLES)


@pytest.mark.parametrize("sample", GOOD_SAMPLES)
def test_sign_sample(sample: str, cli, dev_env: DevEnv, tmp_path: Path) -> None:
    source = DOCUMENTS / sample
    before = len(embedded_signatures(source.read_bytes()))
    out = tmp_path / f"signed-{sample}"
    done = cli("sign", str(source), "-o", str(out), "--reason", "Phê duyệt", "--location", "Hà Nội")
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)

    signed = out.read_bytes()
    assert signed.startswith(source.read_bytes()), "must be an incremental update"
    assert_pdfsig_all_valid(out, before + 1)
    assert_qpdf_clean(out)
    statuses = validate_all(signed, dev_env.root_cert)
    ours = statuses[-1]
    assert ours.intact and ours.valid and ours.trusted, ours.pretty_print_details()
    assert all(s.intact and s.valid for s in statuses)


def test_signature_properties(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    out = tmp_path / "signed.pdf"
    started = datetime.now(timezone.utc).replace(microsecond=0)
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    sig = embedded_signatures(out.read_bytes())[0]

    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.md_algorithm == "sha256"
    assert sig.signer_info["signature_algorithm"]["algorithm"].native == "sha256_rsa"
    attrs = {a["type"].native: a["values"][0] for a in sig.signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in attrs
    cert_hash = attrs["signing_certificate_v2"]["certs"][0]["cert_hash"].native
    assert cert_hash == sig.signer_cert.sha256
    signing_time = attrs["signing_time"].native
    # true UTC: the instant we signed, not Vietnam local time labelled as UTC (+7 h)
    assert started - timedelta(seconds=5) <= signing_time <= datetime.now(timezone.utc) + timedelta(seconds=5)
    assert sig.signer_cert.subject.native["common_name"] == "Lê Hồng Sơn"
    embedded = {c.chosen.subject.native["common_name"] for c in sig.signed_data["certificates"]}
    assert embedded == {"Lê Hồng Sơn", "Test CA phục vụ các cơ quan Nhà nước", "Test Root CA chuyên dùng Chính phủ"}
    report = pdfsig_report(out)
    assert "Signature Type: ETSI.CAdES.detached" in report
    assert "Signing Hash Algorithm: SHA-256" in report


def test_signing_a_signed_pdf_keeps_both_valid(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    first = tmp_path / "first.pdf"
    second = tmp_path / "second.pdf"
    assert cli("sign", str(DOCUMENTS / "reportlab-10-pages.pdf"), "-o", str(first)).returncode == 0
    done = cli("sign", str(first), "-o", str(second), "--cert", "clerk")
    assert done.returncode == 0, done.stderr
    assert_pdfsig_all_valid(second, 2)
    assert_qpdf_clean(second)
    sigs = embedded_signatures(second.read_bytes())
    assert [s.field_name for s in sigs] == ["Signature1", "Signature2"]
    assert [s.signer_cert.subject.native["common_name"] for s in sigs] == [
        "Lê Hồng Sơn", "Văn phòng UBND Thành phố Hà Nội"]
    statuses = validate_all(second.read_bytes(), dev_env.root_cert)
    assert all(s.intact and s.valid and s.trusted for s in statuses)
    # the first signature covers a prefix that is still intact
    assert statuses[0].coverage.name == "ENTIRE_REVISION"


def test_select_certificate_by_id(cli, tmp_path: Path) -> None:
    import json

    clerk = next(c for c in json.loads(cli("certs", "--json").stdout) if c["label"] == "clerk")
    out = tmp_path / "by-id.pdf"
    done = cli("sign", str(DOCUMENTS / "pdflatex.pdf"), "-o", str(out), "--cert", clerk["id"], "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["signer"] == "Văn phòng UBND Thành phố Hà Nội"
    assert_pdfsig_all_valid(out, 1)
