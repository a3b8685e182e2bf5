"""The VGCA Sign Service protocol, driven as vgcaplugin.js does: a new wss socket per call,
one frame, one reply; against a stand-in document system on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from companion_harness import answering_companion
from conftest import DOCUMENTS, DevEnv
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from daemon_harness import RunningDaemon
from docsys import JWT, SESSION, DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid, embedded_signatures

DOCUMENT_PATHS = ["SignApproved", "SignIncome", "Comment", "SignAppendix", "SignCopy", "SignFile", "SignPDF",
                  "SignPDFWP"]


@pytest.fixture(scope="module")
def docsys():
    with Running(DocumentSystem()) as system:
        yield system


@pytest.fixture(scope="module")
def other_host():
    """A second server on 127.0.0.3: the daemon must never send it anything."""
    with Running(DocumentSystem(host="127.0.0.3")) as system:
        yield system


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, docsys: DocumentSystem, tmp_path_factory: pytest.TempPathFactory):
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("vgca"), allow_origins=(docsys.url,),
                       pregranted=(docsys.url,), unattended=(docsys.url,)) as running:
        yield running


def vgca(daemon: RunningDaemon, path: str, frame, origin: str | None = None, close_after: float | None = None):
    """One call exactly as the plugin makes it: new socket, one frame, the first reply, close."""
    return vgca_at(daemon.listening.https_port, daemon.tls.ca_cert, path, frame, origin, close_after)


def vgca_at(https_port: int, ca_cert: Path, path: str, frame, origin: str | None = None,
            close_after: float | None = None):
    """``vgca`` for a daemon listening on ``https_port`` with the local CA ``ca_cert``."""
    async def go():
        context = ssl.create_default_context(cafile=str(ca_cert))
        url = f"wss://127.0.0.1:{https_port}/{path}"
        async with aiohttp.ClientSession() as session:
            headers = {"Origin": origin} if origin is not None else {}
            async with session.ws_connect(url, ssl=context, headers=headers) as socket:
                await socket.send_str(frame if isinstance(frame, str) else json.dumps(frame))
                if close_after is not None:
                    await asyncio.sleep(close_after)
                    return None
                message = await socket.receive(timeout=120)
                return json.loads(message.data)

    return asyncio.run(go())


def document_frame(docsys: DocumentSystem, name: str = "libreoffice.pdf", **extra) -> dict:
    return {
        "FileUploadHandler": f"{docsys.url}/upload?ma=1",
        "SessionId": SESSION,
        "JWTToken": JWT,
        "FileName": f"{docsys.url}/download/{name}?ma=1",
        "MetaData": [{"Key": "DocumentID", "Value": "VB-2026-0045"}, {"Key": "NguoiKy", "Value": "Lê Hồng Sơn"}],
        **extra,
    }


@pytest.mark.parametrize("path", DOCUMENT_PATHS)
def test_document_paths(path: str, daemon: RunningDaemon, docsys: DocumentSystem, tmp_path: Path) -> None:
    before = len(docsys.uploads)
    extra = {"Comment": "Đồng ý, trình ký ban hành."} if path == "Comment" else {}  # an empty one is refused
    reply = vgca(daemon, path, document_frame(docsys, **extra), origin=docsys.url)
    assert reply["Status"] == 0, reply
    upload = docsys.uploads[before]
    assert upload.filename == "libreoffice.pdf"
    assert upload.fields == {"DocumentID": "VB-2026-0045", "NguoiKy": "Lê Hồng Sơn"}
    assert reply["FileServer"] == {"id": before + 1, "path": f"/files/signed-{before + 1}.pdf"}  # untouched
    assert reply["FileName"] == f"signed-{before + 1}.pdf"
    out = tmp_path / "uploaded.pdf"
    out.write_bytes(upload.data)
    assert_pdfsig_all_valid(out, 1)


def test_an_empty_comment_is_refused(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    before = len(docsys.uploads)
    for comment in ({}, {"Comment": "  "}):
        reply = vgca(daemon, "Comment", document_frame(docsys, **comment), origin=docsys.url)
        assert reply["Status"] == 2 and reply["Code"] == "BAD_REQUEST" and "ý kiến để trống" in reply["Message"], reply
    assert len(docsys.uploads) == before, "nothing signed, nothing uploaded"


def test_issued_after_approved_keeps_both_signatures(daemon: RunningDaemon, docsys: DocumentSystem,
                                                     tmp_path: Path) -> None:
    approved = vgca(daemon, "SignApproved", document_frame(docsys, "reportlab-10-pages.pdf"), origin=docsys.url)
    assert approved["Status"] == 0
    issued = vgca(daemon, "SignIssued", document_frame(docsys, approved["FileName"], DocNumber="123/QĐ-UBND",
                                                       IssuedDate="2026-11-22"), origin=docsys.url)
    assert issued["Status"] == 0, issued
    assert issued["DocumentNumber"] == "123/QĐ-UBND" and issued["DocumentDate"] == "2026-11-22"
    out = tmp_path / "issued.pdf"
    out.write_bytes(docsys.uploads[-1].data)
    assert_pdfsig_all_valid(out, 2)
    signers = [s.signer_cert.subject.native["common_name"] for s in embedded_signatures(out.read_bytes())]
    assert signers == ["Lê Hồng Sơn", "Văn phòng UBND Thành phố Hà Nội"]


def test_issued_date_sent_as_a_javascript_date_is_the_day_in_hanoi(daemon: RunningDaemon, docsys: DocumentSystem,
                                                                   tmp_path: Path) -> None:
    """``IssuedDate: new Date()`` at 03:59 on 2 December in Hà Nội is 20:59 on the 1st in UTC: the
    document is issued on the 2nd, on a Word draft whose blanks are spaces."""
    docsys.stored["spaces-docx.pdf"] = (DOCUMENTS / "drafts" / "spaces-docx.pdf").read_bytes()
    approved = vgca(daemon, "SignApproved", document_frame(docsys, "spaces-docx.pdf"), origin=docsys.url)
    assert approved["Status"] == 0, approved
    refused = vgca(daemon, "SignIssued", document_frame(docsys, approved["FileName"], DocNumber="45/QĐ-UBND",
                                                        IssuedDate="Tue Dec 01 2026"), origin=docsys.url)
    assert refused["Status"] == 2 and "DD/MM/YYYY" in refused["Message"], refused
    issued = vgca(daemon, "SignIssued", document_frame(docsys, approved["FileName"], DocNumber="45/QĐ-UBND",
                                                       IssuedDate="2026-12-01T20:59:40.803Z"), origin=docsys.url)
    assert issued["Status"] == 0, issued
    assert issued["DocumentNumber"] == "45/QĐ-UBND" and issued["DocumentDate"] == "2026-12-02"
    out = tmp_path / "issued.pdf"
    out.write_bytes(docsys.uploads[-1].data)
    assert_pdfsig_all_valid(out, 2)
    form = embedded_signatures(out.read_bytes())[0].reader.root["/AcroForm"]
    values = {str(f.get_object()["/T"]): str(f.get_object().get("/V", "")) for f in form["/Fields"]}
    assert {k: values.get(k) for k in ("so_thu_tu", "ngay_ban_hanh", "thang_ban_hanh")} == {
        "so_thu_tu": "45", "ngay_ban_hanh": "02", "thang_ban_hanh": "12"}
    assert "nam_ban_hanh" not in values, "the year is printed on the draft"


def test_a_block_nothing_places_goes_to_free_space_and_the_message_says_so(daemon: RunningDaemon,
                                                                            docsys: DocumentSystem) -> None:
    """The document system's origin signs unattended here: nobody is asked, the profile's fallback
    places the leader's block, and Message tells the page."""
    docsys.stored["report.pdf"] = (DOCUMENTS / "pdflatex.pdf").read_bytes()  # no title, no printed name
    approved = vgca(daemon, "SignApproved", document_frame(docsys, "report.pdf"), origin=docsys.url)
    assert approved["Status"] == 0, approved
    assert "khoảng trống ở góc dưới bên phải trang cuối" in approved["Message"], approved


def test_upload_handler_status_styles(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    try:
        docsys.status_style = "bool"
        assert vgca(daemon, "SignPDF", document_frame(docsys), origin=docsys.url)["Status"] == 0
        docsys.reject_uploads = True
        refused = vgca(daemon, "SignPDF", document_frame(docsys), origin=docsys.url)
        assert refused["Status"] == 10 and "kho lưu trữ đầy" in refused["Message"]
        docsys.status_style = "number"
        assert vgca(daemon, "SignPDF", document_frame(docsys), origin=docsys.url)["Status"] == 10
    finally:
        docsys.status_style, docsys.reject_uploads = "number", False


def test_sign_files_batch(daemon: RunningDaemon, docsys: DocumentSystem, tmp_path: Path) -> None:
    before = len(docsys.uploads)
    frame = {
        "FileUploadHandler": f"{docsys.url}/upload", "SessionId": SESSION, "JWTToken": JWT,
        "Files": [
            {"FileID": 1, "FileName": "a.pdf", "URL": f"{docsys.url}/download/libreoffice.pdf"},
            {"FileID": 2, "FileName": "b.pdf", "URL": f"{docsys.url}/download/pdflatex.pdf"},
            {"FileID": 3, "FileName": "c.pdf", "URL": f"{docsys.url}/download/khong-co.pdf"},
        ],
    }
    reply = vgca(daemon, "SignFiles", frame, origin=docsys.url)
    by_id = {f["FileID"]: f for f in reply["Files"]}
    assert by_id[1]["Status"] == 0 and by_id[2]["Status"] == 0
    assert by_id[3]["Status"] == 9  # DOWNLOAD_FAILED, the others still signed
    assert reply["Status"] != 0 and "1/3" in reply["Message"]
    uploads = docsys.uploads[before:]
    assert sorted(u.fields["FileID"] for u in uploads) == ["1", "2"]
    for index, upload in enumerate(uploads):
        path = tmp_path / f"{index}.pdf"
        path.write_bytes(upload.data)
        assert_pdfsig_all_valid(path, 1)


def test_sign_msg_verifies_against_its_certificate(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    digest = hashlib.sha256("Nội dung cần ký".encode()).digest()
    reply = vgca(daemon, "SignMsg", {"HashAlg": "SHA256", "HashValue": base64.b64encode(digest).decode(),
                                     "Encode": "RSA"}, origin=docsys.url)
    assert reply["Status"] == 0, reply
    certificate = x509.load_der_x509_certificate(base64.b64decode(reply["CertBase64"]))
    certificate.public_key().verify(base64.b64decode(reply["Signature"]), digest, padding.PKCS1v15(),
                                    Prehashed(hashes.SHA256()))
    checked = vgca(daemon, "VerifyMsg", {"HashAlg": "SHA256", "HashValue": base64.b64encode(digest).decode(),
                                         "Signature": reply["Signature"], "CertBase64": reply["CertBase64"]},
                   origin=docsys.url)
    assert checked["Status"] == 0 and checked["Valid"] is True
    wrong = vgca(daemon, "VerifyMsg", {"HashAlg": "SHA256", "HashValue": base64.b64encode(bytes(32)).decode(),
                                       "Signature": reply["Signature"], "CertBase64": reply["CertBase64"]},
                 origin=docsys.url)
    assert wrong["Valid"] is False


def test_literal_frames(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    info = vgca(daemon, "GetCertInfo", "get_cert_info", origin=docsys.url)
    assert info["Status"] == 0 and info["CertInfo"]["CommonName"] == "Lê Hồng Sơn"
    assert x509.load_der_x509_certificate(base64.b64decode(info["CertInfo"]["Base64Cert"]))
    config = vgca(daemon, "Config", "config", origin=docsys.url)
    assert config["Status"] == 0 and "AllowedOrigins" not in config["Config"]
    licence = vgca(daemon, "GetLicenseRequest", "request", origin=docsys.url)
    assert licence["Status"] == 0 and "giấy phép" in licence["Message"]
    office = vgca(daemon, "SignOffice", json.dumps(document_frame(docsys)), origin=docsys.url)
    assert office["Status"] == 13


def test_verify_pdf_path(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    assert vgca(daemon, "SignPDF", document_frame(docsys), origin=docsys.url)["Status"] == 0
    signed = docsys.uploads[-1].data
    reply = vgca(daemon, "VerifyPDF", {"Base64Content": base64.b64encode(signed).decode()}, origin=docsys.url)
    assert reply["Status"] == 0 and reply["Passed"] is True
    assert reply["Signatures"][0]["SignerName"] == "Lê Hồng Sơn"


def test_sign_xml_verified_by_xmlsec1(daemon: RunningDaemon, docsys: DocumentSystem, dev_env: DevEnv,
                                      tmp_path: Path) -> None:
    document = ('<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="urn:edxml"><Header>'
                '<From>UBND Thành phố Hà Nội</From></Header><Body>Công văn 45</Body></edXML>').encode()
    reply = vgca(daemon, "SignXML", {"Base64Content": base64.b64encode(document).decode(),
                                     "ReturnSignatureOnly": "false", "HashAlg": "Sha256", "XmlDsigForm": "true"},
                 origin=docsys.url)
    assert reply["Status"] == 0, reply
    signed = tmp_path / "signed.xml"
    signed.write_bytes(base64.b64decode(reply["Signature"]))
    done = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(dev_env.root_cert), "--untrusted-pem",
                           str(dev_env.interm_cert), str(signed)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = vgca(daemon, "VerifyXML", {"Data": base64.b64encode(signed.read_bytes()).decode(), "Format": "XML"},
                  origin=docsys.url)
    assert report[0]["ValidationDetails"]["SignerCertStatus"]["Status"] == 0
    assert report[0]["SigInfo"]["SignerCert"]["CommonName"] == "Lê Hồng Sơn"


def test_sign_json_and_auth(daemon: RunningDaemon, docsys: DocumentSystem, dev_env: DevEnv,
                            tmp_path: Path) -> None:
    content = {"so": "45/UBND", "trich_yeu": "Về việc ký số"}
    reply = vgca(daemon, "SignJson", {"JsonContent": content}, origin=docsys.url)
    assert reply["Status"] == 0
    (tmp_path / "content.json").write_text(json.dumps(content, ensure_ascii=False, separators=(",", ":")))
    (tmp_path / "sig.p7s").write_bytes(base64.b64decode(reply["Signature"]))
    done = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.p7s"),
                           "-content", str(tmp_path / "content.json"), "-CAfile", str(dev_env.root_cert),
                           "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    auth = vgca(daemon, "Auth", {"Challenge": "n-0451"}, origin=docsys.url)
    assert auth["Status"] == 0
    statement = json.loads(base64.b64decode(auth["SignedData"]))
    assert statement == {"origin": docsys.url, "challenge": "n-0451"}


def test_every_path_answers_one_frame(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    """A malformed frame on every path gets a reply with a failure status, never a dropped socket."""
    from signer.vgca.adapter import HANDLERS

    for path in HANDLERS:
        reply = vgca(daemon, path, "{not json", origin=docsys.url)
        if isinstance(reply, dict):
            assert isinstance(reply["Status"], int), (path, reply)
            assert reply["Status"] == 0 or reply["Message"], (path, reply)
            expected = {"GetCertInfo": 0, "Config": 0, "GetLicenseRequest": 0, "SignOffice": 13, "VerifyOffice": 13}
            assert reply["Status"] == expected.get(path, 2), (path, reply)


ALL_PATHS = ["SignApproved", "SignIssued", "SignIncome", "Comment", "SignAppendix", "SignCopy", "SignFile",
             "SignPDF", "SignPDFWP", "SignFiles", "SignMsg", "VerifyMsg", "VerifyPDF", "SignXML", "SignXMLP12",
             "VerifyXML", "SignJson", "Auth", "GetCertInfo", "Config", "GetLicenseRequest", "SignOffice",
             "VerifyOffice"]


def test_path_table_is_the_brief_s() -> None:
    from signer.vgca.adapter import HANDLERS

    assert sorted(HANDLERS) == sorted(ALL_PATHS)


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("origin", ["https://evil.example", "null", None])
def test_foreign_origin_cannot_open_a_path(path: str, origin: str | None, daemon: RunningDaemon) -> None:
    calls_before = daemon.token_calls
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        vgca(daemon, path, "get_cert_info", origin=origin)
    assert refused.value.status in (401, 403)
    assert daemon.token_calls == calls_before


@pytest.mark.parametrize(
    "frame_urls",
    [
        {"FileName": "http://127.0.0.3:{other}/download/libreoffice.pdf"},
        {"FileUploadHandler": "http://127.0.0.3:{other}/upload"},
        {"FileName": "file:///etc/passwd"},
        {"FileName": "{docsys}/redirect?to=http://127.0.0.3:{other}/download/libreoffice.pdf"},
        {"FileName": "http://127.0.0.1:{other_port_same_host}/download/libreoffice.pdf"},
        {"FileName": "{docsys}/redirect?to=http://127.0.0.1:{other_port_same_host}/download/libreoffice.pdf"},
    ],
    ids=["download-other-host", "upload-other-host", "file-scheme", "redirect-other-host", "other-port",
         "redirect-other-port"],
)
def test_no_request_forgery(frame_urls: dict, daemon: RunningDaemon, docsys: DocumentSystem,
                            other_host: DocumentSystem) -> None:
    uploads_before = len(docsys.uploads)
    frame = document_frame(docsys)
    frame.update({k: v.format(other=other_host.port, docsys=docsys.url,
                              other_port_same_host=daemon.listening.http_port) for k, v in frame_urls.items()})
    reply = vgca(daemon, "SignApproved", frame, origin=docsys.url)
    assert reply["Status"] == 12, reply  # URL_NOT_ALLOWED
    assert other_host.requests == []
    assert len(docsys.uploads) == uploads_before


def test_waiting_page_is_kept_alive_with_pings(dev_env: DevEnv, docsys: DocumentSystem, tmp_path: Path) -> None:
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,), consent_timeout_s=30,
                       limits={"ws_heartbeat_s": 2}) as daemon:  # a pong is due within half of it
        async def go() -> tuple[int, dict]:
            context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
            url = f"wss://127.0.0.1:{daemon.listening.https_port}/SignApproved"
            pings = 0
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(url, ssl=context, headers={"Origin": docsys.url},
                                              autoping=False) as socket:
                    await socket.send_str(json.dumps(document_frame(docsys)))
                    while True:
                        message = await socket.receive(timeout=30)
                        if message.type == aiohttp.WSMsgType.PING:
                            pings += 1
                            await socket.pong(message.data)
                            continue
                        return pings, json.loads(message.data)

        with answering_companion(daemon.settings.server.state_dir, delay_s=7.5):  # the official agrees, later
            pings, reply = asyncio.run(go())
        assert pings >= 3, "the daemon pings a waiting page"
        assert reply["Status"] == 0


def test_page_closing_early_leaves_no_upload(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    uploads_before = len(docsys.uploads)
    frame = document_frame(docsys)
    frame["FileName"] = f"{docsys.url}/slow/libreoffice.pdf"
    vgca(daemon, "SignApproved", frame, origin=docsys.url, close_after=0.5)
    time.sleep(3)
    assert len(docsys.uploads) == uploads_before
    assert daemon.audit_lines()[-1]["result"] == "CLIENT_GONE"


def test_vgca_is_only_on_the_https_port(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    reply = call("GET", f"{daemon.url}/SignApproved", headers={"Origin": docsys.url})
    assert (reply.status, reply.code) == (404, "NOT_FOUND")


def test_service_page(daemon: RunningDaemon) -> None:
    page = call("GET", f"{daemon.tls_url}/", cafile=str(daemon.tls.ca_cert))
    assert page.status == 200 and "Dịch vụ ký số đang chạy" in page.body.decode()
    facts = call("GET", f"{daemon.tls_url}/", headers={"Accept": "application/json"}, cafile=str(daemon.tls.ca_cert))
    assert facts.json()["status"] == "running" and facts.json()["tokens_present"] == 2


@pytest.mark.parametrize(
    ("path", "frame"),
    [
        ("SignJson", '{"JsonContent": "\\ud800"}'),
        ("Auth", '{"Challenge": "\\ud800"}'),
        ("SignApproved", None),  # header injection through the JWT
        ("SignPDF", "[" * 100000),
        ("SignMsg", '{"HashAlg": "SHA256", "HashValue": "AAAA"}'),
    ],
    ids=["lone-surrogate-json", "lone-surrogate-auth", "header-injection", "deep-nesting", "short-digest"],
)
def test_hostile_frames_get_a_status_and_touch_nothing(path: str, frame: str | None, daemon: RunningDaemon,
                                                       docsys: DocumentSystem) -> None:
    if frame is None:
        frame = json.dumps({**document_frame(docsys), "JWTToken": "x\r\nX-Injected: 1"})
    uploads_before, calls_before = len(docsys.uploads), daemon.token_calls
    reply = vgca(daemon, path, frame, origin=docsys.url)
    assert reply["Status"] in (2, 3), reply
    assert len(docsys.uploads) == uploads_before
    assert daemon.token_calls == calls_before, "refused before the token"


def test_an_upload_under_way_ends_whole_when_the_page_leaves(daemon: RunningDaemon, docsys: DocumentSystem,
                                                             tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    (tmp_path / "phu-luc.bin").write_bytes(bytes(range(256)) * 32768)  # 8 MB attachment
    subprocess.run(["qpdf", str(Path(__file__).parent.parent / "fixtures" / "documents" / "libreoffice.pdf"),
                    "--add-attachment", str(tmp_path / "phu-luc.bin"), "--", str(big)], check=True)
    docsys.stored["big.pdf"] = big.read_bytes()
    docsys.slow_upload_s = 2.0
    try:
        uploads_before = len(docsys.uploads)
        vgca(daemon, "SignApproved", document_frame(docsys, "big.pdf"), origin=docsys.url, close_after=1.5)
        time.sleep(5)
        assert len(docsys.uploads) == uploads_before + 1, "the started upload completed"
        out = tmp_path / "uploaded.pdf"
        out.write_bytes(docsys.uploads[-1].data)
        assert_pdfsig_all_valid(out, 1)
    finally:
        docsys.slow_upload_s = 0.0


def test_sign_files_audits_each_file_and_shares_one_queue_place(dev_env: DevEnv, docsys: DocumentSystem,
                                                                 tmp_path: Path) -> None:
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,), pregranted=(docsys.url,),
                       unattended=(docsys.url,),
                       limits={"queue_per_token": 2}) as daemon:
        files = [{"FileID": n, "FileName": f"{n}.pdf", "URL": f"{docsys.url}/download/libreoffice.pdf"}
                 for n in range(12)]
        reply = vgca(daemon, "SignFiles", {"FileUploadHandler": f"{docsys.url}/upload", "SessionId": SESSION,
                                           "JWTToken": JWT, "Files": files}, origin=docsys.url)
        assert reply["Status"] == 0, reply["Message"]
        lines = daemon.audit_settled(13)
        per_file = [line for line in lines if line["operation"].startswith("batch ")]  # on the batch engine
        assert len(per_file) == 12 and all(line["result"] == "OK" and line["document_sha256"] for line in per_file)
        others = [(line["operation"], line["result"]) for line in lines if line not in per_file]
        assert others == [("GET /SignFiles", "OK")], others


def test_page_waits_longer_than_the_request_timeout(dev_env: DevEnv, docsys: DocumentSystem,
                                                     tmp_path: Path) -> None:
    """The VGCA socket has its own deadline: the API's request timeout does not cut a waiting page."""
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,), consent_timeout_s=30,
                       limits={"request_timeout_s": 1}) as daemon:
        with answering_companion(daemon.settings.server.state_dir, delay_s=2.5):
            reply = vgca(daemon, "SignApproved", document_frame(docsys), origin=docsys.url)
        assert reply["Status"] == 0, reply
        assert daemon.audit_settled(1)[-1]["result"] == "OK"


def test_certificate_info_needs_consent(dev_env: DevEnv, docsys: DocumentSystem, tmp_path: Path) -> None:
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,), consent_timeout_s=1) as daemon:
        reply = vgca(daemon, "GetCertInfo", "get_cert_info", origin=docsys.url)
        assert reply["Status"] == 8 and reply["Code"] == "CONSENT_DENIED"
