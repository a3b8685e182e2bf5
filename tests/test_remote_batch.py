"""Batches over a network: 100 documents signed by ``certomancer-csc-dummy`` through the real
daemon, the calls the service receives counted by a loopback proxy in front of it (which also
puts the service a little way off, so that hashes gather while a call is out). At SCAL 1 one
authorisation covers as many signatures as the service allows (its ``multisign``); at SCAL 2
each chunk is authorised with its own hashes. The same through CSC API v2 (tests/csc_v2_server.py).
A service stopped mid-batch ends the batch with REMOTE_UNREACHABLE; back, the batch resumes and
nothing is signed twice. A lost answer is asked again with the same hashes; an error answer is not.
An explicit credential's batch asks the official once per authorisation, not per document."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv, free_port
from csc_proxy import Proxy
from csc_v2_server import start as start_v2
from daemon_harness import RunningDaemon
from http_client import call
from pdf_checks import assert_pdfsig_all_valid, validate_all
from test_batches import create, events, wait_final
from test_remote_authorise import CLERK, OTP, PIN, Companion, Official
from test_remote_csc import CREDENTIAL, SERVICE, _pki_config, _signer_config, start_service
from test_remote_v2 import SERVICE as V2_SERVICE
from test_remote_v2 import _client_credentials, _config, _secret

PAGE = "http://127.0.0.1:5192"
TOTAL = 100
MULTISIGN = 10  # what certomancer-csc-dummy allows per authorisation
DELAY_S = 0.2  # the proxy's each way: a call is out long enough for the next hashes to gather


@dataclass
class Service:
    """certomancer-csc behind the counting proxy; the signer's configuration names the proxy."""

    pki: Path
    port: int
    scal: int
    log: Path
    proxy: Proxy
    config: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_service(self.pki, self.port, self.scal, self.log)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=60)
        self.process = None


@contextmanager
def service(dev_env: DevEnv, folder: Path, scal: int) -> Iterator[Service]:
    port = free_port()
    with Proxy(f"http://127.0.0.1:{port}", free_port(), DELAY_S, log=folder / "proxy.log") as proxy:
        running = Service(_pki_config(dev_env, folder / "pki"), port, scal, folder / "csc.log", proxy,
                          _signer_config(dev_env, folder, proxy.url))
        running.start()
        try:
            yield running
        finally:
            if running.process is not None:
                running.stop()


def documents(count: int = TOTAL) -> list[tuple[str, bytes]]:
    data = (DOCUMENTS / "libreoffice.pdf").read_bytes()
    return [(f"van-ban-{index:03d}.pdf", data) for index in range(count)]


def signing_calls(calls: Counter[str]) -> Counter[str]:
    return Counter({m: n for m, n in calls.items() if m in ("credentials/authorize", "signatures/signHash")})


def assert_all_signed_once(daemon: RunningDaemon, batch_id: str, folder: Path, root: Path,
                           remote: str = SERVICE, count: int = TOTAL) -> None:
    """Every output valid (pdfsig), every tenth and the last also by pyHanko's validator up to the
    test root (they share one chain), and by the audit log each item signed exactly once, the line
    naming the service."""
    page = {"Origin": PAGE}
    for index in range(count):
        reply = call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/{index}", headers=page)
        assert reply.status == 200, (index, reply.body)
        out = folder / f"{index}.pdf"
        out.write_bytes(reply.body)
        assert_pdfsig_all_valid(out, 1)
        if index % 10 == 0 or index == count - 1:
            (status,) = validate_all(reply.body, root)
            assert status.bottom_line, status.pretty_print_details()
    lines = [e for e in daemon.audit_lines() if e["operation"].startswith(f"batch {batch_id} item ")
             and e["result"] == "OK"]
    signed = Counter(e["operation"] for e in lines)
    assert set(signed) == {f"batch {batch_id} item {i}" for i in range(count)}
    assert set(signed.values()) == {1}, "every item signed exactly once"
    assert {e["remote"] for e in lines} == {remote}


# the hundred at SCAL 1; SCAL 2 (an authorisation per chunk) shown on half as many
@pytest.mark.parametrize(("scal", "total"), [(1, TOTAL), (2, TOTAL // 2)])
def test_a_hundred_documents_in_few_calls(dev_env: DevEnv, tmp_path: Path, scal: int, total: int) -> None:
    with service(dev_env, tmp_path, scal) as running, RunningDaemon(
            running.config, tmp_path / "daemon", allow_origins=(PAGE,), pregranted=(PAGE,),
            unattended=(PAGE,)) as daemon:
        before = running.proxy.calls()
        batch_id = create(daemon.url, documents(total), {"Origin": PAGE}, cert=CREDENTIAL, level="B-B")
        status = wait_final(daemon.url, batch_id, {"Origin": PAGE}, timeout=300)
        assert (status["state"], status["done"]) == ("done", total), Counter(i["error"] for i in status["items"])
        made = signing_calls(running.proxy.calls() - before)
        assert_all_signed_once(daemon, batch_id, tmp_path, dev_env.root_cert, count=total)
    authorize, sign_hash = made["credentials/authorize"], made["signatures/signHash"]
    if scal == 1:  # one authorisation per multisign signatures, its SAD reused by every chunk
        assert authorize == total // MULTISIGN, made
    else:  # each chunk its own authorisation, bound to its hashes
        assert authorize == sign_hash, made
    assert sign_hash >= total // MULTISIGN, made
    assert authorize + sign_hash <= total // 2, f"{made}: far fewer than two calls per document"


def test_a_service_stopped_mid_batch_then_resumed(dev_env: DevEnv, tmp_path: Path) -> None:
    total = 50  # enough for a stop in the middle; the hundred are the tests above
    with service(dev_env, tmp_path, 1) as running, RunningDaemon(
            running.config, tmp_path / "daemon", allow_origins=(PAGE,), pregranted=(PAGE,),
            unattended=(PAGE,)) as daemon:
        page = {"Origin": PAGE}
        batch_id = create(daemon.url, documents(total), page, cert=CREDENTIAL, level="B-B")
        signed: list[int] = []

        def stop_after_fifteen(event: dict) -> None:
            if event["event"] == "item" and event["state"] == "signed":
                signed.append(event["index"])
                if len(signed) == 15:
                    running.stop()

        events(daemon.url, batch_id, page, stop_after_fifteen)
        status = call("GET", f"{daemon.url}/v1/batches/{batch_id}", headers=page).json()
        states = Counter((i["state"], i["error"]) for i in status["items"])
        assert status["state"] == "failed", states
        assert set(states) == {("signed", None), ("failed", "REMOTE_UNREACHABLE")}, states
        assert 15 <= states[("signed", None)] < total, states

        running.start()  # the service is back
        resumed = call("POST", f"{daemon.url}/v1/batches/{batch_id}/resume", headers=page)
        assert resumed.status == 202, resumed.body
        status = wait_final(daemon.url, batch_id, page, timeout=300)
        assert (status["state"], status["done"]) == ("done", total), Counter(i["error"] for i in status["items"])
        assert_all_signed_once(daemon, batch_id, tmp_path, dev_env.root_cert, count=total)


def test_a_lost_answer_is_asked_again_with_the_same_hashes(dev_env: DevEnv, tmp_path: Path) -> None:
    """The service signs the first chunk but its answer never comes: the chunk is sent once more,
    the same hashes under the same SAD (at SCAL 2 the service refuses any other), and every
    document is signed once."""
    total = 40
    with service(dev_env, tmp_path, 2) as running, RunningDaemon(
            running.config, tmp_path / "daemon", allow_origins=(PAGE,), pregranted=(PAGE,),
            unattended=(PAGE,)) as daemon:
        running.proxy.fault("signatures/signHash", "lose")
        start = len(running.proxy.log())
        batch_id = create(daemon.url, documents(total), {"Origin": PAGE}, cert=CREDENTIAL, level="B-B")
        status = wait_final(daemon.url, batch_id, {"Origin": PAGE}, timeout=300)
        assert (status["state"], status["done"]) == ("done", total), Counter(i["error"] for i in status["items"])
        signing = [(m, h) for m, h in running.proxy.log()[start:] if m != "credentials/list"
                   and m != "credentials/info"]
        assert_all_signed_once(daemon, batch_id, tmp_path, dev_env.root_cert, count=total)
    (_, authorised), (lost, first), (again, second) = signing[:3]
    assert (lost, again) == ("signatures/signHash", "signatures/signHash"), signing[:3]
    assert authorised == first == second, "the same hashes, under the one authorisation"
    methods = Counter(m for m, _ in signing)
    assert methods["signatures/signHash"] == methods["credentials/authorize"] + 1, methods
    assert sum(len(h or ()) for m, h in signing if m == "signatures/signHash") == total + len(first)


def test_an_error_answer_ends_the_batch_and_is_not_retried(dev_env: DevEnv, tmp_path: Path) -> None:
    with service(dev_env, tmp_path, 2) as running, RunningDaemon(
            running.config, tmp_path / "daemon", allow_origins=(PAGE,), pregranted=(PAGE,),
            unattended=(PAGE,)) as daemon:
        running.proxy.fault("signatures/signHash", "refuse")
        before = running.proxy.calls()
        batch_id = create(daemon.url, documents()[:20], {"Origin": PAGE}, cert=CREDENTIAL, level="B-B")
        status = wait_final(daemon.url, batch_id, {"Origin": PAGE}, timeout=300)
        made = signing_calls(running.proxy.calls() - before)
        outputs = list((daemon.settings.server.state_dir / "batches" / batch_id / "outputs").glob("*"))
    assert status["state"] == "failed"
    assert {(i["state"], i["error"]) for i in status["items"]} == {("failed", "REMOTE_SERVICE_ERROR")}
    assert made == Counter({"credentials/authorize": 1, "signatures/signHash": 1}), made
    assert not outputs, "nothing signed"


# the hundred at SCAL 1; SCAL 2 (an authorisation per chunk) shown on half as many
@pytest.mark.parametrize(("scal", "total"), [(1, TOTAL), (2, TOTAL // 2)])
def test_a_hundred_documents_with_a_v2_service(dev_env: DevEnv, tmp_path: Path, scal: int, total: int) -> None:
    """The same through CSC API v2, the signer signed in with client credentials; this service
    counts each SAD's signatures (at SCAL 1) and hashes (at SCAL 2): none is used beyond them."""
    with start_v2(dev_env.dir / "pki", tmp_path / "v2", free_port(), scal=scal, multisign=MULTISIGN) as v2, \
            Proxy(v2.url, free_port(), DELAY_S, log=tmp_path / "proxy.log") as proxy:
        config = _config(dev_env, tmp_path / "signer", proxy.url, "client_credentials", client_id=v2.client_id,
                         secret_file=str(_secret(tmp_path / "signer", v2.client_secret)))
        with RunningDaemon(config, tmp_path / "daemon", allow_origins=(PAGE,), pregranted=(PAGE,),
                           unattended=(PAGE,)) as daemon:
            before = proxy.calls()
            batch_id = create(daemon.url, documents(total), {"Origin": PAGE}, cert=CREDENTIAL, level="B-B")
            status = wait_final(daemon.url, batch_id, {"Origin": PAGE}, timeout=300)
            assert (status["state"], status["done"]) == ("done", total), Counter(i["error"] for i in status["items"])
            made = signing_calls(proxy.calls() - before)
            assert_all_signed_once(daemon, batch_id, tmp_path, dev_env.root_cert, V2_SERVICE, count=total)
    authorize, sign_hash = made["credentials/authorize"], made["signatures/signHash"]
    assert authorize == (total // MULTISIGN if scal == 1 else sign_hash), made
    assert authorize + sign_hash <= total // 2, f"{made}: far fewer than two calls per document"


def test_an_explicit_credential_s_batch_asks_once_per_authorisation(dev_env: DevEnv, tmp_path: Path) -> None:
    """A credential that asks for its PIN and a one-time code, at SCAL 1: the official answers one
    dialog per authorisation, each for as many signatures as the service allows (its multisign),
    not one per document."""
    total = 2 * MULTISIGN
    official = Official(PIN, OTP)
    with start_v2(dev_env.dir / "pki", tmp_path / "v2", free_port(), scal=1, multisign=MULTISIGN, pin=PIN,
                  otp=OTP) as v2:
        config = _client_credentials(dev_env, tmp_path / "config", v2)
        with RunningDaemon(config, tmp_path / "daemon", allow_origins=(PAGE,), pregranted=(PAGE,),
                           unattended=(PAGE,)) as daemon, Companion(daemon, official):
            batch_id = create(daemon.url, documents()[:total], {"Origin": PAGE}, cert=CLERK, level="B-B")
            status = wait_final(daemon.url, batch_id, {"Origin": PAGE}, timeout=300)
        counted = v2.counters()
    assert (status["state"], status["done"]) == ("done", total), Counter(i["error"] for i in status["items"])
    assert [(shown["credential"], shown["signatures"]) for shown in official.shown] == [(CLERK, MULTISIGN)] * 2
    assert (counted["credentials/authorize"], counted["signatures"]) == (2, total), counted
