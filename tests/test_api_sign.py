"""The native API end to end: signing, verification, bad input, consent, limits, audit."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import structlog.testing
from conftest import DOCUMENTS, LEADER_PIN, DevEnv, pdfsig
from daemon_harness import RunningDaemon
from http_client import call, multipart
from pdf_checks import assert_pdfsig_all_valid

PAGE = "http://127.0.0.1:5173"
SLOW_PAGE = "http://127.0.0.1:5174"  # allowed, but without pre-granted consent
PDF = (DOCUMENTS / "libreoffice.pdf").read_bytes()


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory):
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("daemon"),
                       allow_origins=(PAGE, SLOW_PAGE), pregranted=(PAGE,), unattended=(PAGE, SLOW_PAGE),
                       consent_timeout_s=3,
                       limits={"max_body_mb": 2}) as running:
        yield running


def post(daemon: RunningDaemon, path: str, body: bytes, content_type: str = "application/pdf",
         origin: str | None = PAGE, **headers: str):
    send = {"Content-Type": content_type, **headers}
    if origin:
        send["Origin"] = origin
    else:
        send.update(daemon.auth)
    return call("POST", f"{daemon.url}{path}", headers=send, body=body)


def test_sign_pdf_raw_body_with_query_options(daemon: RunningDaemon, tmp_path: Path) -> None:
    reply = post(daemon, "/v1/sign/pdf?cert=clerk&reason=Ph%C3%A1t%20h%C3%A0nh", PDF)
    assert reply.status == 200, reply.body
    assert reply.headers["x-signature-field"] == "Signature1"
    assert reply.headers["x-signer"] == "V%C4%83n%20ph%C3%B2ng%20UBND%20Th%C3%A0nh%20ph%E1%BB%91%20H%C3%A0%20N%E1%BB%99i"
    assert reply.headers["x-document-sha256"] == hashlib.sha256(PDF).hexdigest()
    out = tmp_path / "raw.pdf"
    out.write_bytes(reply.body)
    assert_pdfsig_all_valid(out, 1)


def test_sign_pdf_multipart_json_variant(daemon: RunningDaemon, tmp_path: Path) -> None:
    body, content_type = multipart({"reason": "Phê duyệt", "location": "Hà Nội"}, PDF)
    reply = post(daemon, "/v1/sign/pdf", body, content_type, Accept="application/json")
    assert reply.status == 200, reply.body
    result = reply.json()
    assert result["signer"] == "Lê Hồng Sơn" and result["warnings"] == []
    signed = base64.b64decode(result["pdf"])
    assert hashlib.sha256(signed).hexdigest() == result["output_sha256"]
    out = tmp_path / "multipart.pdf"
    out.write_bytes(signed)
    assert_pdfsig_all_valid(out, 1)
    verified = post(daemon, "/v1/verify/pdf", signed)
    assert verified.status == 200
    report = verified.json()
    assert report["passed"] is True
    assert report["signatures"][0]["signer"] == "Lê Hồng Sơn" and report["signatures"][0]["intact"]
    assert (report["signatures"][0]["indication"], report["signatures"][0]["level"]) == ("TOTAL-PASSED", "B-B")


def test_sign_pdf_at_a_chosen_level(daemon: RunningDaemon, tmp_path: Path) -> None:
    reply = post(daemon, "/v1/sign/pdf?level=B-LTA", PDF)
    assert reply.status == 200, reply.body
    assert reply.headers["x-signature-level"] == "B-LTA" and b"/DocTimeStamp" in reply.body
    out = tmp_path / "lta.pdf"
    out.write_bytes(reply.body)
    assert "Signature is Valid." in pdfsig(out)
    report = post(daemon, "/v1/verify/pdf", reply.body).json()["signatures"][0]
    assert (report["indication"], report["level"]) == ("TOTAL-PASSED", "B-LTA")
    refused = post(daemon, "/v1/sign/pdf?level=B-X", PDF)
    assert (refused.status, refused.code) == (400, "BAD_REQUEST")


def test_verify_reports_a_changed_document(daemon: RunningDaemon) -> None:
    signed = post(daemon, "/v1/sign/pdf", PDF).body
    tampered = bytearray(signed)
    position = signed.index(b"/Contents") - 200  # inside the signed byte range
    tampered[position] ^= 0x01
    report = post(daemon, "/v1/verify/pdf", bytes(tampered)).json()
    assert report["passed"] is False
    assert report["signatures"][0]["intact"] is False
    assert report["signatures"][0]["indication"] == "TOTAL-FAILED"


def test_sign_cms_and_hash(daemon: RunningDaemon, dev_env: DevEnv, tmp_path: Path) -> None:
    content = "Tờ trình 12/TTr".encode()
    reply = post(daemon, "/v1/sign/cms", content, "application/octet-stream", origin=None)
    assert reply.status == 200 and reply.headers["content-type"] == "application/pkcs7-signature"
    (tmp_path / "c.bin").write_bytes(content)
    (tmp_path / "c.p7s").write_bytes(reply.body)
    done = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "c.p7s"),
                           "-content", str(tmp_path / "c.bin"), "-CAfile", str(dev_env.root_cert),
                           "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    hashed = post(daemon, "/v1/sign/hash", f'{{"hash": "{digest}", "algorithm": "SHA256"}}'.encode(),
                  "application/json", origin=None)
    assert hashed.status == 200, hashed.body
    assert base64.b64decode(hashed.json()["certificate"])[:1] == b"\x30"


def test_hash_signing_needs_its_own_consent(daemon: RunningDaemon) -> None:
    daemon.daemon.consent_store.grant(SLOW_PAGE, ["sign"])
    try:
        assert post(daemon, "/v1/sign/pdf", PDF, origin=SLOW_PAGE).status == 200
        digest = base64.b64encode(bytes(32)).decode()
        reply = post(daemon, "/v1/sign/hash", f'{{"hash": "{digest}"}}'.encode(), "application/json",
                     origin=SLOW_PAGE)
        assert (reply.status, reply.code) == (403, "CONSENT_DENIED")
    finally:
        daemon.daemon.consent_store.revoke(SLOW_PAGE)


def test_without_a_companion_consent_comes_from_signer_origins_grant(daemon: RunningDaemon, dev_env: DevEnv) -> None:
    """Nobody to ask (no desktop companion): refused at once; IT staff can grant the origin."""
    started = time.monotonic()
    first = post(daemon, "/v1/sign/pdf", PDF, origin=SLOW_PAGE)
    assert (first.status, first.code) == (403, "CONSENT_DENIED")
    assert time.monotonic() - started < daemon.settings.consent.timeout_s, "fails fast, not after the dialog time"
    granted = subprocess.run(
        [sys.executable, "-m", "signer", "origins", "grant", SLOW_PAGE, "--allow"],
        env={**dev_env.env(), "SIGNER_CONFIG": str(_config_with_state(daemon))},
        capture_output=True, text=True)
    assert granted.returncode == 0, granted.stderr
    assert post(daemon, "/v1/sign/pdf", PDF, origin=SLOW_PAGE).status == 200
    revoked = subprocess.run(
        [sys.executable, "-m", "signer", "origins", "revoke", SLOW_PAGE],
        env={**dev_env.env(), "SIGNER_CONFIG": str(_config_with_state(daemon))}, capture_output=True, text=True)
    assert revoked.returncode == 0
    denied = post(daemon, "/v1/sign/pdf", PDF, origin=SLOW_PAGE)
    assert (denied.status, denied.code) == (403, "CONSENT_DENIED")


def _config_with_state(daemon: RunningDaemon) -> Path:
    """A config file pointing the CLI at the test daemon's state folder."""
    source = daemon.settings.path
    target = daemon.settings.server.state_dir.parent / "cli.toml"
    target.write_text(source.read_text().replace(
        "[server]\n", f'[server]\nstate_dir = "{daemon.settings.server.state_dir}"\n'))
    return target


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"%PDF-1.7 this is not really a PDF", "application/pdf", 422, "DOCUMENT_INVALID"),
        ((DOCUMENTS / "bad-truncated.pdf").read_bytes(), "application/pdf", 422, "DOCUMENT_INVALID"),
        ((DOCUMENTS / "bad-not-a-pdf.pdf").read_bytes(), "application/pdf", 422, "DOCUMENT_INVALID"),
        (b"", "application/pdf", 422, "DOCUMENT_INVALID"),
        ((DOCUMENTS / "bad-encrypted.pdf").read_bytes(), "application/pdf", 422, "DOCUMENT_ENCRYPTED"),
        (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n%PDF", "multipart/form-data; boundary=xyz",
         400, "BAD_REQUEST"),
        (multipart({"reason": "x"}, None)[0], None, 400, "BAD_REQUEST"),
    ],
    ids=["garbage", "truncated", "not-a-pdf", "empty", "encrypted", "broken-multipart", "multipart-without-file"],
)
def test_bad_input(daemon: RunningDaemon, body: bytes, content_type: str | None, status: int, code: str) -> None:
    if content_type is None:
        body, content_type = multipart({"reason": "x"}, None)
    calls_before = daemon.token_calls
    reply = post(daemon, "/v1/sign/pdf", body, content_type)
    assert (reply.status, reply.code) == (status, code), reply.body
    assert reply.json()["message_vi"]
    assert daemon.token_calls == calls_before, "bad input is refused before the token"
    assert call("GET", f"{daemon.url}/v1/health").status == 200


def test_unknown_certificate(daemon: RunningDaemon) -> None:
    reply = post(daemon, "/v1/sign/pdf?cert=khong-co", PDF)
    assert (reply.status, reply.code) == (404, "CERT_NOT_FOUND")


def test_oversize_is_refused_unread(daemon: RunningDaemon) -> None:
    big = b"%PDF-1.7\n" + bytes(3 * 1024 * 1024)
    reply = post(daemon, "/v1/sign/pdf", big)
    assert (reply.status, reply.code) == (413, "TOO_LARGE")
    body, content_type = multipart({}, big)
    assert post(daemon, "/v1/sign/pdf", body, content_type).status == 413


def test_pin_field_is_ignored_and_never_used(daemon: RunningDaemon) -> None:
    fake = "73-19-54"  # a wrong PIN: were it used, the login would fail
    body, content_type = multipart({"pin": fake, "reason": "x"}, PDF)
    with structlog.testing.capture_logs() as logged:
        reply = post(daemon, "/v1/sign/pdf", body, content_type, Accept="application/json")
    assert reply.status == 200, reply.body
    assert reply.json()["warnings"] == ["PIN_IGNORED"]
    raw = post(daemon, f"/v1/sign/pdf?pin={LEADER_PIN}", PDF)
    assert raw.status == 200 and raw.headers["x-signer-warning"] == "PIN_IGNORED"
    audit = (daemon.settings.server.state_dir / "audit.jsonl").read_text()
    assert fake not in audit and LEADER_PIN not in audit
    assert any(entry["event"] == "pin_in_request_ignored" for entry in logged)
    assert fake not in repr(logged) and LEADER_PIN not in repr(logged)


def test_certificates_filter_and_tokens(daemon: RunningDaemon) -> None:
    reply = call("GET", f"{daemon.url}/v1/certificates?key_usage=non_repudiation", headers=daemon.auth)
    assert reply.status == 200
    certs = {c["label"]: c for c in reply.json()}
    assert set(certs) == {"leader", "clerk", "expired", "revoked"}
    assert certs["expired"]["status"] == "expired" and certs["leader"]["status"] == "valid"
    none = call("GET", f"{daemon.url}/v1/certificates?key_usage=key_agreement", headers=daemon.auth)
    assert none.json() == []
    bad = call("GET", f"{daemon.url}/v1/certificates?key_usage=anything", headers=daemon.auth)
    assert (bad.status, bad.code) == (400, "BAD_REQUEST")


def test_fifty_concurrent_requests(dev_env: DevEnv, tmp_path: Path) -> None:
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), pregranted=(PAGE,),
                       unattended=(PAGE,),
                       # the token's queue is what this measures: the documents' queues let all fifty through
                       limits={"queue_per_token": 8, "document_queue": 50, "document_queue_per_caller": 50}) as daemon:
        with ThreadPoolExecutor(max_workers=50) as pool:
            replies = list(pool.map(lambda _: post(daemon, "/v1/sign/pdf", PDF), range(50)))
        statuses = [r.status for r in replies]
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) >= 8
        for index, reply in enumerate(replies):
            if reply.status == 200:
                path = tmp_path / f"{index}.pdf"
                path.write_bytes(reply.body)
                assert_pdfsig_all_valid(path, 1)
            else:
                assert reply.code == "BUSY" and reply.headers["retry-after"]
        lines = daemon.audit_lines()
        assert len(lines) == 50
        assert sorted(line["result"] for line in lines) == sorted("OK" if s == 200 else "BUSY" for s in statuses)
        assert call("GET", f"{daemon.url}/v1/health").status == 200


def test_rate_limit_per_origin(dev_env: DevEnv, tmp_path: Path) -> None:
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), pregranted=(PAGE,),
                       unattended=(PAGE,),
                       limits={"rate_per_second": 1, "rate_burst": 3}) as daemon:
        replies = [call("GET", f"{daemon.url}/v1/tokens", headers={"Origin": PAGE}) for _ in range(5)]
        assert [r.status for r in replies][:3] == [200, 200, 200]
        limited = replies[-1]
        assert (limited.status, limited.code) == (429, "RATE_LIMITED") and limited.headers["retry-after"]
        # another caller has its own budget
        assert call("GET", f"{daemon.url}/v1/tokens", headers=daemon.auth).status == 200


def test_sign_pdf_with_a_profile(daemon: RunningDaemon, tmp_path: Path) -> None:
    from pdf_checks import embedded_signatures

    reply = post(daemon, "/v1/sign/pdf?profile=copy&copy_form=TR%C3%8DCH%20SAO&cert=clerk", PDF)
    assert reply.status == 200, reply.body
    out = tmp_path / "copy.pdf"
    out.write_bytes(reply.body)
    assert_pdfsig_all_valid(out, 1)
    widget = embedded_signatures(reply.body)[0].sig_field
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    # the top right of page 1, 10 mm from the edge at least; the motto and the date fill the very corner
    # of this document, so the block stands in the free space just below them
    assert x2 > 500 and y1 > 842 / 2 and x2 <= 595 - 28 and y2 <= 842 - 28, "top right of page 1"
    assert embedded_signatures(reply.body)[0].sig_object["/Reason"] == "Ký sao văn bản"
    calls_before = daemon.token_calls
    missing = post(daemon, "/v1/sign/pdf?profile=approved&anchor=Kh%C3%B4ng%20c%C3%B3", PDF)
    assert (missing.status, missing.code) == (422, "ANCHOR_NOT_FOUND")
    assert daemon.token_calls == calls_before, "the block is placed before the token is touched"
    bad = post(daemon, "/v1/sign/pdf?profile=approved&rect=1,2,3", PDF)
    assert (bad.status, bad.code) == (400, "BAD_REQUEST")


def test_a_block_nothing_places_goes_to_free_space_and_the_reply_says_so(daemon: RunningDaemon,
                                                                          tmp_path: Path) -> None:
    """With nobody to ask where the block goes (a configured integration), the profile's fallback
    places it, and both reply forms say so."""
    document = (DOCUMENTS / "pdflatex.pdf").read_bytes()  # two pages; no title, no printed name
    raw = post(daemon, "/v1/sign/pdf?profile=approved", document, origin=None)
    assert raw.status == 200 and raw.headers["x-signature-placed-by"] == "fallback", raw.body[:300]
    reply = post(daemon, "/v1/sign/pdf?profile=approved", document, origin=None, Accept="application/json")
    placement = reply.json()["placement"]
    assert placement["placed_by"] == "fallback" and placement["page"] == 2, placement
    out = tmp_path / "fallback.pdf"
    out.write_bytes(raw.body)
    assert_pdfsig_all_valid(out, 1)


def test_expired_certificate_is_refused_by_the_api(daemon: RunningDaemon) -> None:
    reply = post(daemon, "/v1/sign/pdf?cert=expired", PDF)
    assert (reply.status, reply.code) == (422, "CERT_EXPIRED")
    assert "hết hạn" in reply.json()["message_vi"]


def test_issuing_through_the_api_takes_the_date_as_people_type_it(daemon: RunningDaemon, tmp_path: Path) -> None:
    from pdf_checks import embedded_signatures

    draft = (DOCUMENTS / "drafts" / "dots-odt.pdf").read_bytes()
    calls_before = daemon.token_calls
    for fields, words in (({"profile": "issued", "cert": "clerk", "issued_date": "02/12/2026"}, "document number"),
                          ({"profile": "issued", "cert": "clerk", "doc_number": "45/QĐ-UBND",
                            "issued_date": "2 tháng 12"}, "DD/MM/YYYY")):
        body, content_type = multipart(fields, draft)
        refused = post(daemon, "/v1/sign/pdf", body, content_type)
        assert (refused.status, refused.code) == (400, "BAD_REQUEST") and words in refused.json()["message"]
    assert daemon.token_calls == calls_before, "refused before the token is touched"

    body, content_type = multipart({"profile": "issued", "cert": "clerk", "doc_number": "45/QĐ-UBND",
                                    "issued_date": "02/12/2026"}, draft)
    reply = post(daemon, "/v1/sign/pdf", body, content_type)
    assert reply.status == 200, reply.body
    out = tmp_path / "issued.pdf"
    out.write_bytes(reply.body)
    assert_pdfsig_all_valid(out, 1)
    form = embedded_signatures(reply.body)[0].reader.root["/AcroForm"]
    values = {str(f.get_object()["/T"]): str(f.get_object().get("/V", "")) for f in form["/Fields"]}
    assert {k: values.get(k) for k in ("so_thu_tu", "ngay_ban_hanh", "thang_ban_hanh", "nam_ban_hanh")} == {
        "so_thu_tu": "45", "ngay_ban_hanh": "02", "thang_ban_hanh": "12", "nam_ban_hanh": "2026"}
