"""Revocation checking before signing, PAdES levels, and verification reports.

Signed files are checked with pdfsig (NSS) and with pyHanko's own validator, run here
directly on the files; the revocation data come from the test CA's real OCSP and CRL
responders (certomancer, on loopback)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto.crl import CertificateList
from certomancer.registry import (
    ArchLabel,
    CertLabel,
    CertomancerConfig,
    KeyLabel,
    ServiceLabel,
)
from conftest import DOCUMENTS, REPO, DevEnv, pdfsig
from pdf_checks import load_cert
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko.sign.validation.ades import ades_lta_validation, ades_with_time_validation
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleCertificateStore, SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

SOURCE = DOCUMENTS / "libreoffice.pdf"
BEFORE_REVOCATION = datetime(2025, 12, 1, 9, 0, tzinfo=timezone.utc)  # `revoked` is revoked on 2026-01-15


def signed(cli, tmp_path: Path, *args: str, name: str = "out.pdf", env=None) -> Path:
    out = tmp_path / name
    done = cli("sign", str(SOURCE), "-o", str(out), *args, **({"env": env} if env else {}))
    assert done.returncode == 0, done.stderr
    return out


def verify(cli, path: Path, *args: str) -> tuple[int, dict]:
    done = cli("verify", str(path), "--json", *args)
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


# -- pyHanko, run directly: what level does the file prove on its own (no network)? --

def _spec(dev_env: DevEnv, knowledge: LocalKnowledge) -> PdfSignatureValidationSpec:
    return PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=[load_cert(dev_env.root_cert)]),
            revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(
                RevocationCheckingRule.CHECK_IF_DECLARED, RevocationCheckingRule.CHECK_IF_DECLARED))),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        local_knowledge=knowledge))


def pyhanko_level(path: Path, dev_env: DevEnv) -> str:
    reader = PdfFileReader(io.BytesIO(path.read_bytes()))
    sig = reader.embedded_regular_signatures[0]
    basic = validate_pdf_signature(sig, ValidationContext(trust_roots=[load_cert(dev_env.root_cert)],
                                                          other_certs=[load_cert(dev_env.interm_cert)],
                                                          allow_fetching=False, revocation_mode="soft-fail"))
    assert basic.intact and basic.valid and basic.trusted
    if basic.timestamp_validity is None:
        return "B-B"
    assert basic.timestamp_validity.valid
    try:
        dss = DocumentSecurityStore.read_dss(reader)
        knowledge = LocalKnowledge(
            known_ocsps=[c for r in dss.ocsps for c in OCSPContainer.load_multi(
                asn1_ocsp.OCSPResponse.load(r.get_object().data))],
            known_crls=[CRLContainer(CertificateList.load(r.get_object().data)) for r in dss.crls],
            known_certs=list(dss.load_certs()))
    except Exception:  # noqa: BLE001 - no DSS: nothing known locally
        knowledge = LocalKnowledge(known_certs=[load_cert(dev_env.interm_cert)])
    spec = _spec(dev_env, knowledge)
    with_time = asyncio.run(ades_with_time_validation(sig.signed_data, spec.signature_validation_spec,
                                                      raw_digest=sig.compute_digest()))
    if with_time.ades_subindic.status != AdESStatus.PASSED:
        return "B-T"
    if not reader.embedded_timestamp_signatures:
        return "B-LT"
    lta = asyncio.run(ades_lta_validation(sig, _spec(dev_env, LocalKnowledge())))
    assert lta.ades_subindic.status == AdESStatus.PASSED, lta.failure_msg
    return "B-LTA"


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_each_level_verifies_with_pdfsig_and_pyhanko_reports_it(level: str, cli, dev_env: DevEnv,
                                                                tmp_path: Path) -> None:
    out = signed(cli, tmp_path, "--level", level, "--json")
    report = pdfsig(out)
    assert report.count("Signature is Valid.") == 1 and "Invalid" not in report, report
    reader = PdfFileReader(io.BytesIO(out.read_bytes()))
    if level in ("B-LT", "B-LTA"):
        dss = DocumentSecurityStore.read_dss(reader)
        certs = {c.subject.native["common_name"] for c in dss.load_certs()}
        assert {"Lê Hồng Sơn", "Test CA phục vụ các cơ quan Nhà nước"} <= certs
        assert len(dss.ocsps) >= 1 and len(dss.crls) >= 1, "the leaf's OCSP answer, the intermediate's CRL"
    if level == "B-LTA":
        assert b"/DocTimeStamp" in out.read_bytes() and len(reader.embedded_timestamp_signatures) == 1
    else:
        assert not reader.embedded_timestamp_signatures
    assert pyhanko_level(out, dev_env) == level

    code, verdict = verify(cli, out)
    assert code == 0 and verdict["passed"]
    [ours] = verdict["signatures"]
    assert (ours["level"], ours["indication"], ours["revocation"]) == (level, "TOTAL-PASSED", "good")


def test_verify_fails_a_changed_byte_and_content_added_after_signing(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    good = signed(cli, tmp_path, "--profile", "approved")
    code, verdict = verify(cli, good)
    assert code == 0 and verdict["signatures"][0]["indication"] == "TOTAL-PASSED"

    data = bytearray(good.read_bytes())
    data[12] ^= 0x01  # the binary comment after the header: inside the first signed range, still a PDF
    changed = tmp_path / "changed.pdf"
    changed.write_bytes(bytes(data))
    code, verdict = verify(cli, changed)
    [report] = verdict["signatures"]
    assert code == 10 and (report["indication"], report["intact"]) == ("TOTAL-FAILED", False)
    assert report["sub_indication"] == "HASH_FAILURE"

    writer = IncrementalPdfFileWriter(io.BytesIO(good.read_bytes()))
    font = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica")}))
    text = writer.add_object(generic.StreamObject(stream_data=b"BT /Fx 24 Tf 100 400 Td (DA SUA SAU KHI KY) Tj ET"))
    writer.add_stream_to_page(0, text, resources=generic.DictionaryObject({
        generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/Fx"): font})}))
    appended = tmp_path / "appended.pdf"
    out = io.BytesIO()
    writer.write(out)
    appended.write_bytes(out.getvalue())
    code, verdict = verify(cli, appended)
    [report] = verdict["signatures"]
    assert code == 10 and report["intact"] and report["indication"] == "TOTAL-FAILED"
    assert report["modification_level"] == "OTHER"
    human = cli("verify", str(appended))
    assert human.returncode == 10 and "KHÔNG HỢP LỆ / FAILED" in human.stdout and "CONTENT CHANGED" in human.stdout


def _certomancer(dev_env: DevEnv):
    port = (dev_env.dir / "services.port").read_text().strip()
    config = CertomancerConfig.from_file(str(REPO / "fixtures" / "pki" / "certomancer.yml"),
                                         key_search_dir=str(dev_env.dir / "pki" / "keys"),
                                         external_url_prefix=f"http://127.0.0.1:{port}")
    return config.get_pki_arch(ArchLabel("gov-test"))


def test_a_signature_made_before_the_revocation_is_valid_at_signing_time(cli, dev_env: DevEnv,
                                                                          tmp_path: Path) -> None:
    """A B-LT file signed by `revoked` on 2025-12-01 (timestamp and revocation data of that
    day, made with pyHanko and the test CA directly), verified after the revocation."""
    arch = _certomancer(dev_env)
    revoked, interm, root = (arch.get_cert(CertLabel(n)) for n in ("revoked", "interm", "root"))
    assert revoked.dump() == load_cert(dev_env.dir / "pki" / "certs" / "revoked.cert.pem").dump()
    services = arch.service_registry
    responder = services.summon_responder(ServiceLabel("interm"), at_time=BEFORE_REVOCATION)
    cert_id = asn1_ocsp.CertId({
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": hashlib.sha1(interm.subject.dump()).digest(),
        "issuer_key_hash": interm.public_key.sha1, "serial_number": revoked.serial_number})
    answer = responder.build_ocsp_response(asn1_ocsp.OCSPRequest(
        {"tbs_request": {"request_list": [{"req_cert": cert_id}]}}))
    context = ValidationContext(
        trust_roots=[root], other_certs=[interm], allow_fetching=False, moment=BEFORE_REVOCATION,
        ocsps=[answer], crls=[services.get_crl(ServiceLabel("root"), at_time=BEFORE_REVOCATION)])
    tsa = services.get_tsa_info(ServiceLabel("tsa"))
    timestamper = DummyTimeStamper(tsa_cert=arch.get_cert(tsa.signing_cert),
                                   tsa_key=arch.key_set.get_private_key(tsa.signing_key),
                                   fixed_dt=BEFORE_REVOCATION)
    signer = signers.SimpleSigner(signing_cert=revoked, signing_key=arch.key_set.get_private_key(KeyLabel("revoked")),
                                  cert_registry=SimpleCertificateStore.from_certs([interm, root]))
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES,
                                        embed_validation_info=True, validation_context=context)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(SOURCE.read_bytes())), meta, signer=signer,
                           timestamper=timestamper)
    before = tmp_path / "signed-2025-12-01.pdf"
    before.write_bytes(out.getvalue())

    code, verdict = verify(cli, before)  # today's OCSP says revoked since 2026-01-15
    [report] = verdict["signatures"]
    assert code == 0, report
    assert report["signer"] == "Trần Thị Bích" and report["timestamp"].startswith("2025-12-01T09:00")
    assert (report["indication"], report["revocation"], report["level"]) == ("TOTAL-PASSED", "good", "B-LT")
    _, offline = verify(cli, before, "--offline")  # the file's own data: not enough to prove validity today
    assert offline["signatures"][0]["level"] == "B-LT" and offline["signatures"][0]["revocation"] != "revoked"

    # the same certificate cannot sign now
    refused = cli("sign", str(SOURCE), "-o", str(tmp_path / "now.pdf"), "--cert", "revoked")
    assert refused.returncode == 5 and "CERT_REVOKED" in refused.stderr and "2026-01-15" in refused.stderr


def _isolated(private_tokens: DevEnv, policy: str, cache: Path, rewrite: tuple[str, str] | None = None
              ) -> dict[str, str]:
    """A copy of the private configuration with its own revocation policy and cache folder."""
    text = private_tokens.signer_config.read_text().replace('policy = "hard-fail"', f'policy = "{policy}"')
    text = text.replace(str(private_tokens.dir / "cache" / "revocation"), str(cache))
    if rewrite is not None:
        text += f'\n[[revocation.rewrite]]\nfrom = "{rewrite[0]}"\nto = "{rewrite[1]}"\n'
    config = cache.parent / f"{cache.name}-{policy}.toml"
    config.write_text(text)
    return {**private_tokens.env(), "SIGNER_CONFIG": str(config)}


def test_offline_responders_hard_fail_refuses_and_offline_grace_signs_with_a_cached_crl(
        cli, private_tokens: DevEnv, dev_env: DevEnv, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # fresh CRLs in a cache, fetched while the responders answer; OCSP is rewritten (policy
    # data) to a closed port, so that the leader's status comes from its CA's CRL too
    warm = tmp_path / "warm-cache"
    port = (dev_env.dir / "services.port").read_text().strip()
    ocsp = (f"http://127.0.0.1:{port}/gov-test/ocsp/", "http://127.0.0.1:9/")
    signed(cli, tmp_path, env=_isolated(private_tokens, "hard-fail", warm, ocsp), name="while-online.pdf")
    assert len(list((warm / "crl").glob("*/*.idx"))) == 2, "both CAs' CRLs were kept, with their index"
    assert not (warm / "ocsp").exists()

    from conftest import run_setup

    run_setup(dev_env.dir, "--stop")
    try:
        cold = _isolated(private_tokens, "hard-fail", tmp_path / "empty-cache")
        done = cli("sign", str(SOURCE), "-o", str(out_dir / "x.pdf"), env=cold)
        assert done.returncode == 5 and "REVOCATION_UNKNOWN" in done.stderr, done.stderr
        assert not list(out_dir.iterdir())
        graced = _isolated(private_tokens, "offline-grace", warm)
        done = cli("sign", str(SOURCE), "-o", str(out_dir / "y.pdf"), env=graced)
        assert done.returncode == 0, done.stderr
        assert "Signature is Valid." in pdfsig(out_dir / "y.pdf")
    finally:
        done = run_setup(dev_env.dir, "--services")
        assert done.returncode == 0, done.stderr


def test_offline_grace_accepts_a_stale_crl_only_within_the_grace(dev_env: DevEnv, tmp_path: Path) -> None:
    """The intermediate CA's status comes from the root's CRL alone. Its distribution point is
    rewritten (policy data) to a closed port, so only the cached CRL can answer."""
    from cryptography import x509 as crypto

    from policies.revocation import load_revocation_policy
    from signer.errors import SignerError
    from signer.validation.revocation import check_revocation
    from signer.validation.store import RevocationStore

    arch = _certomancer(dev_env)
    interm, root = (crypto.load_der_x509_certificate(arch.get_cert(CertLabel(n)).dump()) for n in ("interm", "root"))
    port = (dev_env.dir / "services.port").read_text().strip()
    store = RevocationStore(tmp_path / "cache")
    stored = store.store_crl(arch.service_registry.get_crl(ServiceLabel("root")).dump(), root)
    next_update = stored.index.facts.next_update
    rewrite = {"rewrite": [{"from": f"http://127.0.0.1:{port}/", "to": "http://127.0.0.1:9/"}],
               "retries": 0, "timeout_s": 2}

    def check(policy: str, hours_late: float):
        return asyncio.run(check_revocation(
            [interm, root], load_revocation_policy({**rewrite, "policy": policy, "offline_grace_hours": 72}),
            store, next_update + timedelta(hours=hours_late)))

    evidence = check("offline-grace", 24)  # a day past nextUpdate: within the 72 h grace
    assert evidence.crls == (stored.der(),)
    for policy, late in (("offline-grace", 80), ("hard-fail", 24)):
        with pytest.raises(SignerError) as refused:
            check(policy, late)
        assert refused.value.code == "REVOCATION_UNKNOWN"
    assert check("offline-grace", -24).complete, "a CRL before its nextUpdate is simply fresh"


def test_ocsp_nonce_is_sent_unless_the_responder_is_listed(dev_env: DevEnv, tmp_path: Path) -> None:
    """The test CA's responder echoes a request's nonce: the answer kept in the cache shows
    whether the request carried one."""
    from cryptography import x509 as crypto

    from policies.revocation import load_revocation_policy
    from signer.validation.revocation import check_revocation
    from signer.validation.store import RevocationStore

    arch = _certomancer(dev_env)
    leader, interm, root = (crypto.load_der_x509_certificate(arch.get_cert(CertLabel(n)).dump())
                            for n in ("leader", "interm", "root"))
    port = (dev_env.dir / "services.port").read_text().strip()
    now = datetime.now(timezone.utc)

    def nonce_echoed(settings: dict) -> bool:
        evidence = asyncio.run(check_revocation([leader, interm, root], load_revocation_policy(settings),
                                                RevocationStore(tmp_path / str(len(settings))), now))
        answer = asn1_ocsp.OCSPResponse.load(evidence.ocsp[0])
        extensions = answer["response_bytes"]["response"].parsed["tbs_response_data"]["response_extensions"]
        return any(e["extn_id"].native == "nonce" for e in extensions or [])

    assert nonce_echoed({})
    assert not nonce_echoed({"no_nonce": [f"http://127.0.0.1:{port}/gov-test/ocsp/"]})


def test_revocation_data_larger_than_one_network_chunk_arrive_whole(tmp_path: Path) -> None:
    """A national CRL comes in many chunks: all of them are read, and a too-large one is refused."""
    import os
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import aiohttp

    from policies.revocation import load_revocation_policy
    from signer.validation import fetch as fetch_module

    big = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "big.crl").write_bytes(big)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/big.crl"

    async def get() -> bytes:
        async with aiohttp.ClientSession() as session:
            return await fetch_module.fetch(session, url, load_revocation_policy({"retries": 0}))

    try:
        assert asyncio.run(get()) == big
        limit = fetch_module.MAX_RESPONSE_BYTES
        fetch_module.MAX_RESPONSE_BYTES = 1024 * 1024
        try:
            with pytest.raises(fetch_module.FetchFailed, match="larger than"):
                asyncio.run(get())
        finally:
            fetch_module.MAX_RESPONSE_BYTES = limit
    finally:
        server.shutdown()
