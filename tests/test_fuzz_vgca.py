"""Property-based fuzzing of VGCA frames against the running daemon, over wss as pages call it.

Every path gets, one socket each: its valid frame with fields dropped or replaced by values
of any type (URLs of the document system and elsewhere, base64 or not, huge strings,
nested JSON), any other JSON, text that is not JSON, its literal words, and binary frames.
Whatever it is, a text frame is answered with one reply whose Status is one of the known
ones (a failure's Code known, not internal, with the status the error table gives it), a
binary frame closes the socket, nothing hangs, and the daemon answers its health check
afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from docsys import JWT, SESSION, DocumentSystem, Running
from fuzzing import (
    CLIENT_TIMEOUT_S,
    FUZZ,
    KNOWN_VGCA_STATUSES,
    assert_healthy,
    assert_vgca_failure,
    save_failure,
)
from hypothesis import example, given, note
from hypothesis import strategies as st

from signer.vgca.adapter import HANDLERS
from signer.vgca.documents import DOCUMENT_PROFILES

pytestmark = pytest.mark.fuzz

PATHS = sorted(HANDLERS)
PDF = (DOCUMENTS / "libreoffice.pdf").read_bytes()
XML = '<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="urn:edxml"><Body>Công văn 45</Body></edXML>'.encode()


@dataclass(frozen=True)
class Binary:
    """A binary WebSocket frame (pages send text)."""

    data: bytes


@pytest.fixture(scope="module")
def docsys():
    with Running(DocumentSystem()) as system:
        yield system


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, docsys: DocumentSystem, tmp_path_factory: pytest.TempPathFactory):
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("fuzz-vgca"), allow_origins=(docsys.url,),
                       pregranted=(docsys.url,), unattended=(docsys.url,),
                       limits={"rate_per_second": 100000, "rate_burst": 100000}) as running:
        yield running


# -- frames -------------------------------------------------------------------

# docsys.url is only known once it runs: "{docsys}" in a value stands for it
DOCSYS = "{docsys}"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
huge = st.sampled_from([10_000, 1_000_000, 4_000_000]).flatmap(
    lambda n: st.sampled_from(["A" * n, "9" * n, "\r\n" * (n // 2), "ệ" * n]))
urls = st.one_of(
    st.sampled_from([f"{DOCSYS}/download/libreoffice.pdf", f"{DOCSYS}/download/bad-truncated.pdf",
                     f"{DOCSYS}/download/bad-not-a-pdf.pdf", f"{DOCSYS}/download/khong-co.pdf", f"{DOCSYS}/upload",
                     f"{DOCSYS}/download/libreoffice.pdf?ma=1&x=%00", f"{DOCSYS}/redirect?to=file:///etc/passwd",
                     "http://127.0.0.3:1/x.pdf", "file:///etc/passwd", "javascript:alert(1)", "http://[::1",
                     "http://127.0.0.1:0/", "ftp://127.0.0.1/a.pdf", "", "//127.0.0.1/a.pdf", "http://"]),
    st.text(max_size=40))
base64_values = st.one_of(
    st.sampled_from([base64.b64encode(PDF).decode(), base64.b64encode(XML).decode(), "not base64!", "====", "QQ"]),
    st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()))
digests = st.sampled_from([0, 1, 16, 20, 32, 48, 64, 65]).map(lambda n: base64.b64encode(bytes(n)).decode())
texts = st.one_of(st.text(max_size=30), st.sampled_from(["2026-11-22", "2026-12-01T20:59:40.803Z", "31/12/2026",
                                                         "123/QĐ-UBND", "Bản sao y", "true", "false", "x\r\nX: 1"]))
entries = st.one_of(texts, json_values)
metadata = st.one_of(st.lists(st.fixed_dictionaries({"Key": entries}, optional={"Value": entries}), max_size=3),
                     json_values)
files = st.lists(st.fixed_dictionaries({}, optional={"FileID": json_values, "FileName": st.one_of(urls, texts),
                                                     "URL": urls, "MetaData": metadata}), max_size=3)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "FileUploadHandler": urls, "FileName": urls, "URL": urls, "SessionId": st.one_of(st.just(SESSION), texts),
    "JWTToken": st.one_of(st.just(JWT), texts), "MetaData": metadata, "Files": st.one_of(files, json_values),
    "DocNumber": texts, "IssuedDate": texts, "CopyForm": texts, "CopyType": texts, "Comment": texts,
    "Content": texts, "HashAlg": st.one_of(st.sampled_from(["SHA256", "sha1", "SHA-384", "sha512", "MD5", ""]), texts),
    "HashValue": st.one_of(digests, base64_values), "Encode": texts, "Signature": base64_values,
    "CertBase64": base64_values, "Base64Content": base64_values, "Data": st.one_of(base64_values, texts),
    "ReturnSignatureOnly": st.one_of(st.booleans(), texts), "XmlDsigForm": st.one_of(st.booleans(), texts),
    "Format": texts, "JsonContent": json_values, "Challenge": texts, "Nonce": texts,
}
field_values = st.sampled_from(sorted(FIELDS)).flatmap(lambda name: st.tuples(st.just(name), FIELDS[name]))


def template(path: str) -> dict[str, Any]:
    """The path's valid frame (as test_vgca.py sends it)."""
    if path in DOCUMENT_PROFILES:
        return {"FileUploadHandler": f"{DOCSYS}/upload", "SessionId": SESSION, "JWTToken": JWT,
                "FileName": f"{DOCSYS}/download/libreoffice.pdf",
                "MetaData": [{"Key": "DocumentID", "Value": "VB-2026-0045"}],
                **({"DocNumber": "123/QĐ-UBND", "IssuedDate": "2026-11-22"} if path == "SignIssued" else {})}
    return {
        "SignFiles": {"FileUploadHandler": f"{DOCSYS}/upload", "SessionId": SESSION, "JWTToken": JWT,
                      "Files": [{"FileID": 1, "FileName": "a.pdf", "URL": f"{DOCSYS}/download/libreoffice.pdf"}]},
        "SignMsg": {"HashAlg": "SHA256", "HashValue": base64.b64encode(bytes(32)).decode(), "Encode": "RSA"},
        "VerifyMsg": {"HashAlg": "SHA256", "HashValue": base64.b64encode(bytes(32)).decode(),
                      "Signature": base64.b64encode(bytes(256)).decode(), "CertBase64": ""},
        "VerifyPDF": {"Base64Content": base64.b64encode(PDF).decode()},
        "SignXML": {"Base64Content": base64.b64encode(XML).decode(), "ReturnSignatureOnly": "false",
                    "HashAlg": "Sha256", "XmlDsigForm": "true"},
        "SignXMLP12": {"Base64Content": base64.b64encode(XML).decode()},
        "VerifyXML": {"Data": base64.b64encode(XML).decode(), "Format": "XML"},
        "SignJson": {"JsonContent": {"so": "45/UBND"}},
        "Auth": {"Challenge": "n-0451"},
    }.get(path, {})


LITERALS = ["get_cert_info", "config", "request", "", " ", "null", "[]", "{}", '"x"', "[" * 100_000,
            '{"JsonContent": "\\ud800"}', '{"Challenge": "\\udfff"}', '{"a": 1, "a": 2}', "{" + '"a":' * 5000]


@st.composite
def changed_frames(draw: st.DrawFn, path: str) -> str:
    frame = template(path)
    for name in draw(st.lists(st.sampled_from(sorted(frame)), unique=True)) if frame else []:
        del frame[name]
    frame.update(draw(st.lists(field_values, max_size=4)))
    frame.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    if draw(st.booleans()):
        frame[draw(st.sampled_from(sorted(FIELDS)))] = draw(huge)
    return json.dumps(frame, ensure_ascii=draw(st.booleans()))


def frames(path: str) -> st.SearchStrategy[str | Binary]:
    return st.one_of(
        changed_frames(path),  # first: the simplest example is the valid frame itself
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.sampled_from(LITERALS),
        st.binary(max_size=200).map(Binary),
    )


# frames the fuzzer found failing once (path, frame), kept as regressions
FOUND: list[tuple[str, str | Binary]] = [
    # a control character in SessionId: refused by the download's header writer (a 500)
    ("SignIssued", json.dumps({**template("SignIssued"), "SessionId": "\b"})),
    # a MetaData key with a control character: signed, then refused by the upload's form encoder (a 500)
    ("Comment", json.dumps({**template("Comment"), "MetaData": [{"Key": "\x1f"}]})),
]
calls = st.sampled_from(PATHS).flatmap(lambda path: st.tuples(st.just(path), frames(path)))


# -- the exchange -------------------------------------------------------------


async def exchange(daemon: RunningDaemon, origin: str, path: str, frame: str | Binary) -> aiohttp.WSMessage:
    context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
    url = f"wss://127.0.0.1:{daemon.listening.https_port}/{path}"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, ssl=context, headers={"Origin": origin}, max_msg_size=0) as socket:
            if isinstance(frame, Binary):
                await socket.send_bytes(frame.data)
            else:
                await socket.send_str(frame)
            return await socket.receive(timeout=CLIENT_TIMEOUT_S)  # a hang raises TimeoutError


def check_call(daemon: RunningDaemon, docsys: DocumentSystem, path: str, frame: str | Binary) -> str:
    """What the call got: "closed" for a binary frame, else the reply's Code (or "OK")."""
    if isinstance(frame, str):
        frame = frame.replace(DOCSYS, docsys.url)
    message = asyncio.run(exchange(daemon, docsys.url, path, frame))
    try:
        if isinstance(frame, Binary):
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
            return "closed"
        assert message.type == aiohttp.WSMsgType.TEXT, message
        reply = json.loads(message.data)
        if isinstance(reply, list):  # VerifyXML answers a bare array, as the official service does
            assert path == "VerifyXML", reply
            for entry in reply:
                assert entry["ValidationDetails"]["SignerCertStatus"]["Status"] in KNOWN_VGCA_STATUSES, entry
            return "OK"
        assert_vgca_failure(reply)
        return reply.get("Code") or "OK"
    finally:
        assert_healthy(daemon)


def test_frames_get_a_status(daemon: RunningDaemon, docsys: DocumentSystem,
                             tmp_path_factory: pytest.TempPathFactory) -> None:
    outcomes: Counter[str] = Counter()
    failures = tmp_path_factory.mktemp("fuzz-vgca-failures")

    @FUZZ
    @given(call=calls)
    def examples(call: tuple[str, str | Binary]) -> None:
        try:
            outcomes[check_call(daemon, docsys, *call)] += 1
        except BaseException:
            path, frame = call
            data = frame.data if isinstance(frame, Binary) else frame.encode("utf-8", "surrogatepass")
            note(f"the frame for /{path} is saved as {save_failure(failures, data, 'frame')}")
            raise

    for found in FOUND:  # frames that once failed, checked first on every run
        examples = example(call=found)(examples)
    examples()
    # not all noise: some calls succeed, some are refused as bad requests, some frames are binary
    assert outcomes["OK"] and outcomes["BAD_REQUEST"] and outcomes["closed"], outcomes
