"""The daemon's gates, over real HTTP on loopback: Host, Origin, API token, CORS, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from http_client import call

from signer.security.host import allow_host, is_loopback

PAGE = "http://127.0.0.1:5173"


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory):
    # each refusal here is alone in its window (1 ms), whose line is written as it closes (the
    # counting of a window's refusals: test_floods.py)
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("daemon"),
                       allow_origins=(PAGE,), pregranted=(PAGE,), unattended=(PAGE,),
                       limits={"refusal_window_s": 0.001}) as running:
        yield running


PDF = (DOCUMENTS / "libreoffice.pdf").read_bytes()


def sign_attempt(daemon: RunningDaemon, headers: dict[str, str]):
    return call("POST", f"{daemon.url}/v1/sign/pdf",
                headers={"Content-Type": "application/pdf", **headers}, body=PDF)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Host": "evil.example:{port}", "Origin": PAGE}, 421, "HOST_NOT_ALLOWED"),
        ({"Host": "evil.example"}, 421, "HOST_NOT_ALLOWED"),
        ({"Host": "127.0.0.1:1", "Origin": PAGE}, 421, "HOST_NOT_ALLOWED"),
        ({"Origin": "https://evil.example"}, 403, "ORIGIN_NOT_ALLOWED"),
        ({"Origin": "null"}, 403, "ORIGIN_NOT_ALLOWED"),
        ({"Origin": "http://127.0.0.1:5173.evil.example"}, 403, "ORIGIN_NOT_ALLOWED"),
        ({"Origin": "http://localhost:5173"}, 403, "ORIGIN_NOT_ALLOWED"),
        ({"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, 403, "ORIGIN_NOT_ALLOWED"),
        ({}, 401, "AUTH_REQUIRED"),
        ({"Authorization": "Bearer not-the-token"}, 401, "AUTH_REQUIRED"),
    ],
    ids=["rebinding-host", "rebinding-no-port", "other-port", "foreign-origin", "null-origin",
         "lookalike-origin", "localhost-is-another-origin", "browser-without-origin", "no-token", "wrong-token"],
)
def test_refused_before_any_token_access(daemon: RunningDaemon, headers: dict, status: int, code: str) -> None:
    headers = {k: v.format(port=daemon.listening.http_port) for k, v in headers.items()}
    calls_before = daemon.token_calls
    audit_before = len(daemon.audit_lines())
    reply = sign_attempt(daemon, headers)
    assert (reply.status, reply.code) == (status, code), reply.body
    assert "access-control-allow-origin" not in reply.headers
    assert daemon.token_calls == calls_before, "a refused request reached the token"
    new = daemon.audit_settled(audit_before + 1)[audit_before:]
    assert [line["result"] for line in new] == [code]
    assert new[0]["operation"] == "POST /v1/sign/pdf" and new[0]["certificate_sha256"] is None
    assert new[0]["origin"] == headers.get("Origin", "absent"), "the Origin as sent, or that none was"


def test_allowed_origin_signs_with_exact_cors(daemon: RunningDaemon) -> None:
    reply = sign_attempt(daemon, {"Origin": PAGE})
    assert reply.status == 200, reply.body
    assert reply.headers["access-control-allow-origin"] == PAGE
    assert reply.headers["content-type"] == "application/pdf"
    assert reply.body.startswith(PDF)
    last = daemon.audit_lines()[-1]
    assert last["origin"] == "http://127.0.0.1:5173" and last["result"] == "OK"
    assert last["document_size"] == len(PDF) and len(last["certificate_sha256"]) == 64


def test_preflight_for_allowed_origin(daemon: RunningDaemon) -> None:
    reply = call("OPTIONS", f"{daemon.url}/v1/sign/pdf", headers={
        "Origin": PAGE, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-evil",
        "Access-Control-Request-Private-Network": "true"})
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == PAGE
    assert reply.headers["access-control-allow-private-network"] == "true"
    assert reply.headers["access-control-allow-headers"] == "content-type"
    assert "*" not in reply.headers.values()


def test_preflight_for_foreign_origin_gets_no_cors(daemon: RunningDaemon) -> None:
    reply = call("OPTIONS", f"{daemon.url}/v1/sign/pdf", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Private-Network": "true"})
    assert reply.status == 403 and reply.code == "ORIGIN_NOT_ALLOWED"
    assert not any(h.startswith("access-control-") for h in reply.headers)


def test_public_routes_need_no_token_but_check_host(daemon: RunningDaemon) -> None:
    health = call("GET", f"{daemon.url}/v1/health")
    assert health.status == 200
    assert health.json()["tokens_present"] == 2 and health.json()["version"]
    assert call("GET", f"{daemon.url}/v1/openapi.json").json()["openapi"] == "3.1.0"
    rebinding = call("GET", f"{daemon.url}/v1/health", headers={"Host": "evil.example"})
    assert rebinding.status == 421


def test_https_listener_serves_the_same_api(daemon: RunningDaemon) -> None:
    reply = call("GET", f"{daemon.tls_url}/v1/health", cafile=str(daemon.tls.ca_cert))
    assert reply.status == 200 and reply.json()["status"] == "ok"
    tokens = call("GET", f"{daemon.tls_url}/v1/tokens", headers=daemon.auth, cafile=str(daemon.tls.ca_cert))
    assert tokens.status == 200 and {t["label"] for t in tokens.json()} >= {"Token Le Hong Son"}


def test_api_token_file_is_private(daemon: RunningDaemon) -> None:
    assert daemon.settings.server.api_token_file.stat().st_mode & 0o077 == 0


def test_host_and_peer_rules() -> None:
    ports = {8986, 8987}
    assert allow_host("127.0.0.1:8986", ports) and allow_host("localhost", ports) and allow_host("[::1]:8987", ports)
    assert not allow_host("127.0.0.1:9999", ports)
    assert not allow_host("127.0.0.1.evil.example", ports)
    assert not allow_host("localhost.evil.example:8986", ports)
    assert not allow_host(None, ports)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.8.9.10")
    assert not is_loopback("192.168.1.10") and not is_loopback("::ffff:8.8.8.8") and not is_loopback(None)


def test_consent_file_missing_means_not_granted(daemon: RunningDaemon, tmp_path: Path) -> None:
    assert not (daemon.settings.server.state_dir / "consents.json").exists()


def test_cross_site_reads_of_public_routes_are_refused(daemon: RunningDaemon) -> None:
    """An <img> or no-cors fetch from another site sends no Origin, but does send Sec-Fetch-Site."""
    calls_before = daemon.token_calls
    reply = call("GET", f"{daemon.url}/v1/health", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
    assert (reply.status, reply.code) == (403, "ORIGIN_NOT_ALLOWED")
    assert daemon.token_calls == calls_before
    typed = call("GET", f"{daemon.url}/v1/health", headers={"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"})
    assert typed.status == 200


def test_malformed_bodies_are_client_errors(daemon: RunningDaemon) -> None:
    deep = call("POST", f"{daemon.url}/v1/sign/hash", headers={**daemon.auth, "Content-Type": "application/json"},
                body=b"[" * 200000)
    assert (deep.status, deep.code) == (400, "BAD_REQUEST")
    gzip = call("POST", f"{daemon.url}/v1/sign/pdf", headers={**daemon.auth, "Content-Type": "application/pdf",
                                                              "Content-Encoding": "gzip"}, body=b"%PDF-not gzip")
    assert (gzip.status, gzip.code) == (400, "BAD_REQUEST")
    short = call("POST", f"{daemon.url}/v1/sign/hash", headers={"Origin": PAGE, "Content-Type": "application/json"},
                 body=b'{"hash": "AAAA"}')
    assert (short.status, short.code) == (422, "DOCUMENT_INVALID")
    assert daemon.audit_lines()[-1]["certificate_sha256"] is None, "refused before the key"
    assert call("GET", f"{daemon.url}/v1/health").status == 200
