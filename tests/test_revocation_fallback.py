"""When the authorities do not answer: verification relies on the document's own evidence,
all revocation fetching of a check or a signature shares one budget, and the command line
says what it waits for.

The test CA's responders (certomancer, on loopback) are stopped for these tests; "a responder
that never answers" is a loopback socket in this process that accepts connections (the kernel
completes them) and never reads or writes."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig, KeyLabel, ServiceLabel
from conftest import DOCUMENTS, REPO, DevEnv, assert_no_traceback, run_setup
from daemon_harness import RunningDaemon
from http_client import call

SOURCE = DOCUMENTS / "libreoffice.pdf"
PAGE = "http://127.0.0.1:5173"
WAIT_LINE = "Checking the certificate's revocation at http://127.0.0.1:{port}/"


def _signed(cli, tmp_path: Path, level: str) -> Path:
    out = tmp_path / f"{level}.pdf"
    done = cli("sign", str(SOURCE), "-o", str(out), "--level", level)
    assert done.returncode == 0, done.stderr
    return out


def _verify(cli, path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    done = cli("verify", str(path), "--json", *args, **({"env": env} if env else {}))
    assert_no_traceback(done)
    [report] = json.loads(done.stdout)["signatures"]
    return done.returncode, report, done.stderr


@contextmanager
def _responders_stopped(dev_env: DevEnv) -> Iterator[str]:
    """The test CA's responders down (their port given) for a while, up again after."""
    run_setup(dev_env.dir, "--stop")
    try:
        yield (dev_env.dir / "services.port").read_text().strip()
    finally:
        done = run_setup(dev_env.dir, "--services")
        assert done.returncode == 0, done.stderr


@contextmanager
def _black_hole(port: int) -> Iterator[None]:
    """A listener on ``port`` that never answers: connections complete, requests go unread."""
    hole = socket.socket()
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(50):  # the stopped responder may still hold the port for a moment
        try:
            hole.bind(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.1)
    else:
        hole.close()
        pytest.fail(f"port {port} stayed in use")
    hole.listen(64)
    try:
        yield
    finally:
        hole.close()


def _with_budget(tokens: DevEnv, seconds: int) -> dict[str, str]:
    config = tokens.signer_config
    config.write_text(config.read_text().replace("[revocation]\n", f"[revocation]\nfetch_budget_s = {seconds}\n", 1))
    return tokens.env()


def test_long_term_files_verify_by_their_own_evidence_with_the_responders_stopped(
        cli, dev_env: DevEnv, tmp_path: Path) -> None:
    files = {level: _signed(cli, tmp_path, level) for level in ("B-LT", "B-LTA")}
    plain = _signed(cli, tmp_path, "B-B")
    for level, path in files.items():  # responders up: their fresh answers are what counts
        code, report, _ = _verify(cli, path)
        assert code == 0 and (report["level"], report["indication"]) == (level, "TOTAL-PASSED"), report
        assert (report["revocation_source"], report["online_failure"]) == ("online", None)

    with _responders_stopped(dev_env) as port:
        for level, path in files.items():
            code, report, _ = _verify(cli, path)
            assert code == 0, report
            assert (report["level"], report["indication"], report["revocation"]) == (level, "TOTAL-PASSED", "good")
            assert report["fetching"] == "online" and report["revocation_source"] == "document"
            assert f"http://127.0.0.1:{port}/" in report["online_failure"]
            assert {f["outcome"] for f in report["fetches"]} == {"failed"}

            code, report, _ = _verify(cli, path, "--offline")
            assert code == 0 and (report["level"], report["indication"]) == (level, "TOTAL-PASSED"), report
            assert (report["fetching"], report["revocation_source"], report["online_failure"]) == \
                ("offline", "document", None)

        human = cli("verify", str(files["B-LT"]))
        assert human.returncode == 0 and "HỢP LỆ / PASSED" in human.stdout
        assert "Revocation data relied on: dữ liệu có trong tệp / the document's own validation data" in human.stdout
        assert f"as the online look-ups failed: http://127.0.0.1:{port}/" in human.stdout

        # the document's evidence is not made up: a file that carries none stays undecided
        code, report, _ = _verify(cli, plain)
        assert code == 10 and report["indication"] == "INDETERMINATE", report
        assert report["revocation_source"] == "none" and report["online_failure"]

        with RunningDaemon(dev_env.signer_config, tmp_path / "daemon", allow_origins=(PAGE,),
                           pregranted=(PAGE,)) as daemon:
            for level, path in files.items():
                reply = call("POST", f"{daemon.url}/v1/verify/pdf", body=path.read_bytes(), timeout=120,
                             headers={"Origin": PAGE, "Content-Type": "application/pdf"})
                assert reply.status == 200, reply.body
                result = reply.json()
                [report] = result["signatures"]
                assert result["passed"] and (report["level"], report["revocation_source"]) == (level, "document")
                assert f"http://127.0.0.1:{port}/" in report["online_failure"]


def _archived_revinfo_signature(dev_env: DevEnv, tmp_path: Path) -> Path:
    """A timestamped signature (pyHanko, the test CA's keys) whose revocation answers, fetched now
    from the test CA, are embedded Adobe-style in the signature (adbe-revocationInfoArchival), not
    in a DSS."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    port = (dev_env.dir / "services.port").read_text().strip()
    arch = CertomancerConfig.from_file(str(REPO / "fixtures" / "pki" / "certomancer.yml"),
                                       key_search_dir=str(dev_env.dir / "pki" / "keys"),
                                       external_url_prefix=f"http://127.0.0.1:{port}").get_pki_arch(ArchLabel("gov-test"))
    leader, interm, root = (arch.get_cert(CertLabel(n)) for n in ("leader", "interm", "root"))
    tsa = arch.service_registry.get_tsa_info(ServiceLabel("tsa"))
    signer = signers.SimpleSigner(signing_cert=leader, signing_key=arch.key_set.get_private_key(KeyLabel("leader")),
                                  cert_registry=SimpleCertificateStore.from_certs([interm, root]))
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1", subfilter=fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED, embed_validation_info=True,
        validation_context=ValidationContext(trust_roots=[root], other_certs=[interm], allow_fetching=True))
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(SOURCE.read_bytes())), meta, signer=signer,
                           timestamper=DummyTimeStamper(tsa_cert=arch.get_cert(tsa.signing_cert),
                                                        tsa_key=arch.key_set.get_private_key(tsa.signing_key)))
    path = tmp_path / "archived-revinfo.pdf"
    path.write_bytes(out.getvalue())
    return path


def test_answers_embedded_in_the_signature_count_as_the_document_s_own(cli, dev_env: DevEnv,
                                                                       tmp_path: Path) -> None:
    archived = _archived_revinfo_signature(dev_env, tmp_path)
    assert b"/DSS" not in archived.read_bytes()
    with _responders_stopped(dev_env):
        code, report, _ = _verify(cli, archived)
        assert code == 0 and report["indication"] == "TOTAL-PASSED", report
        assert (report["level"], report["revocation_source"]) == ("B-T", "document") and report["online_failure"]


def test_a_responder_that_never_answers_costs_the_budget_and_is_announced(
        cli, dev_env: DevEnv, private_tokens: DevEnv, tmp_path: Path) -> None:
    from signer.errors import KINDS, Code

    long_term = _signed(cli, tmp_path, "B-LT")
    env = _with_budget(private_tokens, 3)  # its own (empty) revocation cache: the responders must be asked
    out = tmp_path / "out.pdf"
    with _responders_stopped(dev_env) as port, _black_hole(int(port)):
        done = cli("sign", str(SOURCE), "-o", str(out), env=env)
        assert_no_traceback(done)
        assert done.returncode == KINDS[Code.REVOCATION_UNKNOWN].exit_code, done.stderr
        assert not out.exists()
        lines = done.stderr.splitlines()
        waits = [i for i, line in enumerate(lines) if WAIT_LINE.format(port=port) in line]
        [refused] = [i for i, line in enumerate(lines) if line.startswith("signer: REVOCATION_UNKNOWN")]
        assert waits and waits[0] < refused, done.stderr
        assert "(tối đa 3 giây)" in lines[waits[0]] and "(up to 3 s)" in lines[waits[0]]
        assert "Đang kiểm tra tình trạng thu hồi chứng thư số tại" in lines[waits[0]]
        assert "the 3 s for revocation fetching are spent" in lines[refused]

        code, report, stderr = _verify(cli, long_term, env=env)
        assert code == 0 and report["indication"] == "TOTAL-PASSED", report
        assert report["revocation_source"] == "document"
        assert "3 s for revocation fetching are spent" in report["online_failure"]
        assert WAIT_LINE.format(port=port) in stderr and "(up to 3 s)" in stderr


def test_a_wait_is_announced_only_once_it_outlasts_a_second() -> None:
    from signer.waits import REVOCATION, SLOW_S, Wait, announce, waiting

    heard: list[Wait] = []

    async def main() -> None:
        quick, slow = Wait(REVOCATION, "http://quick.example/", 15), Wait(REVOCATION, "http://slow.example/", 15)
        with waiting(quick):
            await asyncio.sleep(0)  # answered at once
        announced = asyncio.get_running_loop().create_future()

        def listener(wait: Wait) -> None:
            heard.append(wait)
            announced.set_result(None)

        with announce(listener), waiting(slow):
            await announced  # ends only when the listener heard of it
        await asyncio.sleep(2 * SLOW_S)  # the quick wait's timer, had it not been cancelled, would have run

    with announce(heard.append):
        asyncio.run(main())
    assert heard == [Wait(REVOCATION, "http://slow.example/", 15)]


def test_the_budget_is_policy_data() -> None:
    from policies.revocation import load_revocation_policy

    assert load_revocation_policy().fetch_budget_s == 15
    assert load_revocation_policy({"fetch_budget_s": 3}).fetch_budget_s == 3
    for bad in (0, -1, "soon"):
        with pytest.raises(ValueError):
            load_revocation_policy({"fetch_budget_s": bad})
