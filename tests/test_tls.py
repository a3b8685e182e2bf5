"""The local TLS of the https listener: real certificates, checked with openssl and a real handshake."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import ssl
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.cli import tls as tls_cli
from signer.config import ServerSettings, Settings
from signer.errors import SignerError
from signer.tls import (
    RENEW_BEFORE_DAYS,
    TlsFiles,
    ensure_local_tls,
    init_local_tls,
    server_ssl_context,
    tls_status,
)

PRIVATE_KEY_BLOCK = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S)


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    return init_local_tls(tmp_path / "tls")


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def expiry(directory: Path) -> datetime:
    not_after = tls_status(directory).not_after
    assert not_after is not None
    return not_after


def read_bytes(files: TlsFiles) -> tuple[bytes, bytes, bytes]:
    return files.ca_cert.read_bytes(), files.server_cert.read_bytes(), files.server_key.read_bytes()


def test_files_are_named_in_the_directory(tmp_path: Path, files: TlsFiles) -> None:
    assert files == TlsFiles.in_dir(tmp_path / "tls")
    assert (files.ca_cert.name, files.server_cert.name, files.server_key.name) == \
        ("ca.pem", "server.pem", "server-key.pem")
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["ca.pem", "server-key.pem", "server.pem"]


def test_openssl_verifies_the_server_certificate_against_the_ca(files: TlsFiles) -> None:
    done = openssl("verify", "-CAfile", str(files.ca_cert), str(files.server_cert))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(": OK")
    # server.pem carries the chain: the leaf first, then the CA.
    chain = x509.load_pem_x509_certificates(files.server_cert.read_bytes())
    assert [c.subject for c in chain] == [chain[0].subject, x509.load_pem_x509_certificate(
        files.ca_cert.read_bytes()).subject]


def test_server_certificate_names_localhost_and_both_loopbacks(files: TlsFiles) -> None:
    done = openssl("x509", "-in", str(files.server_cert), "-noout", "-ext", "subjectAltName")
    assert done.returncode == 0, done.stderr
    names = {n.strip() for n in done.stdout.splitlines()[1].split(",")}
    assert names == {"DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"}
    done = openssl("x509", "-in", str(files.server_cert), "-noout", "-ext", "extendedKeyUsage,keyUsage")
    assert "TLS Web Server Authentication" in done.stdout
    assert "Digital Signature" in done.stdout


def test_ca_is_name_constrained_to_the_loopback(files: TlsFiles) -> None:
    done = openssl("x509", "-in", str(files.ca_cert), "-noout", "-ext", "nameConstraints,basicConstraints")
    assert done.returncode == 0, done.stderr
    assert "X509v3 Name Constraints: critical" in done.stdout
    assert "DNS:localhost" in done.stdout
    assert "IP:127.0.0.0/255.0.0.0" in done.stdout
    assert "CA:TRUE, pathlen:0" in done.stdout
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical and constraints.value.excluded_subtrees is None
    assert {str(n.value) for n in constraints.value.permitted_subtrees or []} == \
        {"localhost", "127.0.0.0/8", "::1/128"}
    common_name = ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert str(common_name).startswith("vn-token-signer local CA (")


def test_key_and_folder_are_private(files: TlsFiles) -> None:
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.server_key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.ca_cert.stat().st_mode) == 0o644


def test_the_only_private_key_on_disk_is_the_servers(files: TlsFiles) -> None:
    found = {p.name: PRIVATE_KEY_BLOCK.findall(p.read_bytes()) for p in files.ca_cert.parent.iterdir()}
    assert {name: len(blocks) for name, blocks in found.items() if blocks} == {"server-key.pem": 1}
    key = serialization.load_pem_private_key(found["server-key.pem"][0], password=None)
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert key.public_key() == server.public_key()
    assert key.public_key() != ca.public_key()


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_real_handshake_with_the_ca_and_none_without(files: TlsFiles, hostname: str) -> None:
    trusting = ssl.create_default_context(cafile=str(files.ca_cert))
    assert asyncio.run(_handshake(server_ssl_context(files), trusting, hostname)) == b"ok"
    stranger = ssl.create_default_context()  # the system's trust store, without our CA
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(_handshake(server_ssl_context(files), stranger, hostname))


def test_server_context_refuses_old_protocols(files: TlsFiles) -> None:
    context = server_ssl_context(files)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


async def _handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext, hostname: str) -> bytes:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname=hostname), timeout=10)
        data = await reader.read()
        writer.close()
        return data
    finally:
        server.close()
        await server.wait_closed()


def test_status_of_an_empty_folder(tmp_path: Path) -> None:
    status = tls_status(tmp_path / "nothing")
    assert not status.present and status.needs_renewal
    assert status.not_after is status.days_left is status.ca_fingerprint_sha256 is None


def test_status_reports_expiry_and_fingerprint(files: TlsFiles) -> None:
    status = tls_status(files.ca_cert.parent)
    assert status.present and not status.needs_renewal
    assert status.days_left is not None and 820 <= status.days_left <= 825
    done = openssl("x509", "-in", str(files.ca_cert), "-noout", "-fingerprint", "-sha256")
    assert done.stdout.strip().split("=", 1)[1] == status.ca_fingerprint_sha256


def test_renewal_is_due_thirty_days_before_expiry(files: TlsFiles) -> None:
    directory = files.ca_cert.parent
    not_after = expiry(directory)
    assert tls_status(directory, now=not_after - timedelta(days=20)).needs_renewal
    assert tls_status(directory, now=not_after - timedelta(days=RENEW_BEFORE_DAYS - 1)).needs_renewal
    assert not tls_status(directory, now=not_after - timedelta(days=100)).needs_renewal


def test_ensure_keeps_valid_files_byte_for_byte(files: TlsFiles) -> None:
    directory = files.ca_cert.parent
    before = read_bytes(files)
    not_after = expiry(directory)
    assert ensure_local_tls(directory, now=not_after - timedelta(days=100)) == files
    assert read_bytes(files) == before


def test_ensure_renews_near_expiry_with_a_new_ca(files: TlsFiles) -> None:
    directory = files.ca_cert.parent
    old = tls_status(directory)
    old_not_after = expiry(directory)
    later = old_not_after - timedelta(days=20)
    assert ensure_local_tls(directory, now=later) == files
    new = tls_status(directory, now=later)
    assert new.not_after is not None and new.not_after > old_not_after
    assert new.ca_fingerprint_sha256 != old.ca_fingerprint_sha256
    assert not new.needs_renewal


def test_ensure_creates_missing_files(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path / "a" / "tls")
    assert not tls_status(files.ca_cert.parent).needs_renewal


def test_mismatched_files_need_renewal(tmp_path: Path) -> None:
    first = init_local_tls(tmp_path / "one")
    second = init_local_tls(tmp_path / "two")
    second.ca_cert.write_bytes(first.ca_cert.read_bytes())  # another machine's CA
    assert tls_status(second.ca_cert.parent).needs_renewal
    third = init_local_tls(tmp_path / "three")
    third.server_key.write_bytes(first.server_key.read_bytes())  # a key that is not the certificate's
    assert tls_status(third.ca_cert.parent).needs_renewal


def test_broken_file_is_a_config_error(files: TlsFiles) -> None:
    files.server_cert.write_text("not a certificate")
    with pytest.raises(SignerError) as caught:
        tls_status(files.ca_cert.parent)
    assert caught.value.code == "CONFIG_INVALID"
    assert "server.pem" in caught.value.detail


def test_unwritable_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SignerError) as caught:
        init_local_tls(blocker / "tls")
    assert caught.value.code == "CONFIG_INVALID"


def settings_for(directory: Path) -> Settings:
    return Settings(server=ServerSettings(tls_dir=directory))


def test_cli_parses_init_and_status() -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    parser = argparse.ArgumentParser()
    tls_cli.register(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args(["tls", "init", "--force", "--config", "x.toml"])
    assert (args.tls_command, args.force, args.config, args.run) == ("init", True, "x.toml", tls_cli.run)
    args = parser.parse_args(["tls", "status", "--json"])
    assert (args.tls_command, args.json) == ("status", True)


def test_cli_init_keeps_a_valid_certificate_unless_forced(tmp_path: Path, capsys) -> None:
    settings = settings_for(tmp_path / "tls")
    files = TlsFiles.in_dir(tmp_path / "tls")

    assert tls_cli.run(argparse.Namespace(tls_command="init", force=False), settings) == 0
    out = capsys.readouterr().out
    assert "Local TLS certificate created" in out and "Đã tạo chứng thư TLS cục bộ" in out
    assert str(files.ca_cert) in out and "trust store" in out
    first = read_bytes(files)

    assert tls_cli.run(argparse.Namespace(tls_command="init", force=False), settings) == 0
    assert "still valid, kept" in capsys.readouterr().out
    assert read_bytes(files) == first

    assert tls_cli.run(argparse.Namespace(tls_command="init", force=True), settings) == 0
    assert "created" in capsys.readouterr().out
    second = read_bytes(files)
    assert all(a != b for a, b in zip(first, second, strict=True))
    assert openssl("verify", "-CAfile", str(files.ca_cert), str(files.server_cert)).returncode == 0


def test_cli_force_repairs_broken_files(files: TlsFiles, capsys) -> None:
    files.ca_cert.write_text("garbage")
    settings = settings_for(files.ca_cert.parent)
    with pytest.raises(SignerError):
        tls_cli.run(argparse.Namespace(tls_command="init", force=False), settings)
    assert tls_cli.run(argparse.Namespace(tls_command="init", force=True), settings) == 0
    assert not tls_status(files.ca_cert.parent).needs_renewal


def test_cli_status(tmp_path: Path, capsys) -> None:
    settings = settings_for(tmp_path / "tls")
    assert tls_cli.run(argparse.Namespace(tls_command="status", json=True), settings) == 0
    assert json.loads(capsys.readouterr().out)["present"] is False
    assert tls_cli.run(argparse.Namespace(tls_command="status", json=False), settings) == 0
    assert "No local TLS certificate" in capsys.readouterr().out

    init_local_tls(tmp_path / "tls")
    assert tls_cli.run(argparse.Namespace(tls_command="status", json=True), settings) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["present"] is True and report["needs_renewal"] is False
    assert datetime.fromisoformat(report["not_after"]) > datetime.now(timezone.utc)
    assert report["ca_fingerprint_sha256"] == tls_status(tmp_path / "tls").ca_fingerprint_sha256
    assert tls_cli.run(argparse.Namespace(tls_command="status", json=False), settings) == 0
    out = capsys.readouterr().out
    assert "Local TLS certificate" in out and "CA SHA-256" in out
