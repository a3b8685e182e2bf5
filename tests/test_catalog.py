"""The token catalogue and module discovery."""

from __future__ import annotations

import json
import os
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from drivers.catalog import (
    CatalogError,
    TokenModel,
    UsbId,
    load_catalog,
    model_for_atr,
    model_for_usb,
    parse_catalog,
)
from drivers.errors import TokenError
from drivers.modules import catalogue_status, discover_modules, installed_modules

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")


def test_catalog_covers_the_tokens_in_use() -> None:
    catalog = load_catalog()
    all_paths = " ".join(p for m in catalog for paths in m.modules.values() for p in paths)
    for name in ("eTPKCS11", "bit4xpki", "eps2003csp11", "opensc-pkcs11", "softhsm2"):
        assert name in all_paths, name
    vendors = {m.vendor for m in catalog}
    assert {"SafeNet (Thales)", "Bit4id", "Feitian", "OpenSC", "SoftHSM"} <= vendors
    for model in catalog:
        assert set(model.modules) <= {"linux", "windows", "macos"}
        assert model.modules, model.model


def test_usb_and_atr_lookup() -> None:
    assert [m.vendor for m in load_catalog() if UsbId(0x096E, 0x0807) in m.usb] == ["Feitian"]  # one entry
    assert model_for_usb(0x096E, 0x0807).vendor == "Feitian"
    assert model_for_usb(0x0529, 0x0620).vendor == "SafeNet (Thales)"
    assert model_for_usb(0x25DD, 0x1234).vendor == "Bit4id"  # any product of the vendor
    assert model_for_usb(0x1234, 0x5678) is None
    atr = bytes.fromhex("3BD518008131 3A7D8073C8211030".replace(" ", ""))
    assert [m.vendor for m in load_catalog() if m.matches_atr(atr)] == ["SafeNet (Thales)"]
    assert model_for_atr(atr).vendor == "SafeNet (Thales)"
    assert model_for_atr(bytes.fromhex("3B951381018073FF01000B")) is None


def test_configured_modules_come_first(tmp_path: Path) -> None:
    vendor = tmp_path / "libvendor-pkcs11.so"
    vendor.write_bytes(b"")
    model = TokenModel("Test", "Test", {"linux": (str(SOFTHSM), "/nonexistent/lib.so")}, (), ())
    found = discover_modules([vendor], catalog=[model], os_key="linux")
    assert [c.path for c in found] == [vendor, SOFTHSM]
    assert found[0].source == "configured" and found[1].source == "Test Test"


def test_same_file_is_loaded_once(tmp_path: Path) -> None:
    link = tmp_path / "softhsm-link.so"
    os.symlink(SOFTHSM, link)
    model = TokenModel("SoftHSM", "v2", {"linux": (str(SOFTHSM),)}, (), ())
    found = discover_modules([link], catalog=[model], os_key="linux")
    assert [c.path for c in found] == [link]


def test_missing_configured_module_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TokenError) as caught:
        discover_modules([tmp_path / "missing.so"], use_catalog=False)
    assert caught.value.code == "MODULE_NOT_FOUND"


def test_catalogue_finds_softhsm_here() -> None:
    found = discover_modules([], os_key="linux")
    assert any(os.path.realpath(c.path) == os.path.realpath(SOFTHSM) for c in found)


CATALOGUE_TEXT = resources.files("drivers.catalog").joinpath("tokens.toml").read_text("utf-8")


def test_every_entry_names_its_public_sources() -> None:
    for model in load_catalog():
        assert model.source, model.name
        assert all(re.fullmatch(r"https://\S+", url) for url in model.source), model.name
        assert model.install, model.name


def test_the_vietnamese_cas_drivers_are_listed() -> None:
    windows = {m.vendor: m.module_paths("windows") for m in load_catalog()}
    assert "viettel-ca_v6.dll" in windows["Viettel-CA"]
    assert "vnptca_p11_v8.dll" in windows["VNPT-CA"]
    assert "BkavCA.dll" in windows["BkavCA"]
    assert "CA2_csp11.dll" in windows["Nacencomm (CA2)"]
    assert "fptca_v3.dll" in windows["FPT-CA"]
    assert "eps2003csp11.dll" in " ".join(windows["Feitian"])


def test_usb_matcher_picks_the_entry_listing_each_id() -> None:
    raw = tomllib.loads(CATALOGUE_TEXT)["token"]
    listed = [(entry["vendor"], u) for entry in raw for u in entry.get("usb", [])]
    assert len(listed) >= 7
    for vendor, usb in listed:
        product = int(usb.get("product", "ffff"), 16)  # a vendor-wide id: any product matches
        found = model_for_usb(int(usb["vendor"], 16), product)
        assert found is not None and found.vendor == vendor, (vendor, usb)
    assert model_for_usb(0x096E, 0x080A).model == "ePass2003 / ePass2003 Auto"
    assert model_for_usb(0x08E6, 0x34CF).vendor == "SafeNet (Thales)"
    assert model_for_usb(0x1234, 0x5678) is None
    assert model_for_usb(0x096E, 0x0608) is None  # a Feitian reader, not a token


def test_an_exact_usb_id_wins_over_a_vendor_wide_one() -> None:
    wide = TokenModel("Maker", "any", {"linux": ("/x.so",)}, (UsbId(0x1111, None),), ())
    exact = TokenModel("Rebrand", "one", {"linux": ("/y.so",)}, (UsbId(0x1111, 0x0002),), ())
    assert model_for_usb(0x1111, 0x0002, [wide, exact]) is exact
    assert model_for_usb(0x1111, 0x0003, [wide, exact]) is wide


def test_atr_matcher() -> None:
    epass = bytes.fromhex("3B9F958131FE9F006646530510113171DF0000039000A0")  # pcsc-tools: ePass2003 PKI
    epass_auto = bytes.fromhex("3B9F958131FE9F006646530534002571DF0000036A82F9")
    assert model_for_atr(epass).vendor == "Feitian"
    assert model_for_atr(epass_auto).vendor == "Feitian"
    assert model_for_atr(epass[:-1]) is None  # one byte short of the pattern
    etoken = bytes.fromhex("3BD5180081313A7D8073C8211030")
    assert model_for_atr(etoken).vendor == "SafeNet (Thales)"
    assert model_for_atr(bytes.fromhex("3B951381018073FF01000B")) is None


def test_the_shipped_catalogue_passes_its_own_check() -> None:
    assert parse_catalog(CATALOGUE_TEXT) == load_catalog()


GOOD_ENTRY = """
[[token]]
vendor = "V"
model = "M"
source = ["https://example.org/list"]
install = "the V driver"
usb = [{ vendor = "abcd", product = "0001" }]
atrs = ["3B:.*"]
[token.modules]
linux = ["/usr/lib/libv.so"]
"""


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        (("install =", "instal ="), "unknown key(s): instal"),
        (('source = ["https://example.org/list"]\n', ""), "lacks source"),
        (('["https://example.org/list"]', '["http://example.org/list"]'), "https://"),
        (('["https://example.org/list"]', "[]"), "https://"),
        (('product = "0001"', 'product = "1"'), "not four hex digits"),
        (('vendor = "abcd"', 'vendor = "wxyz"'), "not four hex digits"),
        (('product = "0001"', 'product = "0001", serial = "x"'), "unknown key(s): serial"),
        (('atrs = ["3B:.*"]', 'atrs = ["3B:(.*"]'), "does not compile"),
        (("linux =", "solaris ="), "unknown key(s): solaris"),
        (('linux = ["/usr/lib/libv.so"]', ""), "at least one OS"),
        (("[[token]]", "[[tokens]]"), "unknown key(s): tokens"),
        (("model = ", "model = 1 #"), "model must be a non-empty string"),
    ],
)
def test_a_broken_catalogue_is_refused(change: tuple[str, str], fault: str) -> None:
    assert parse_catalog(GOOD_ENTRY)[0].install == "the V driver"
    broken = GOOD_ENTRY.replace(*change, 1)
    assert broken != GOOD_ENTRY
    with pytest.raises(CatalogError) as caught:
        parse_catalog(broken)
    assert fault in str(caught.value)


def test_an_id_listed_by_two_entries_is_refused() -> None:
    with pytest.raises(CatalogError, match="abcd:0001 is listed by V M and V M"):
        parse_catalog(GOOD_ENTRY + GOOD_ENTRY)


def test_a_bare_module_name_is_looked_up_where_the_loader_looks(tmp_path: Path, monkeypatch) -> None:
    system32 = tmp_path / "System32"
    system32.mkdir()
    (system32 / "viettel-ca_v6.dll").write_bytes(b"")
    monkeypatch.setenv("SystemRoot", str(tmp_path))
    viettel = next(m for m in load_catalog() if m.vendor == "Viettel-CA")
    assert installed_modules(viettel, "windows") == (system32 / "viettel-ca_v6.dll",)
    status = {s.model.vendor: s for s in catalogue_status(os_key="windows")}
    assert status["Viettel-CA"].advice == ""
    assert "Viettel-CA Token Manager" in status["Viettel-CA"].model.install
    assert status["VNPT-CA"].installed == () and status["VNPT-CA"].advice == status["VNPT-CA"].model.install


def test_signer_tokens_drivers_says_what_is_missing_and_what_to_install(cli) -> None:
    done = cli("tokens", "--drivers", "--json")
    assert done.returncode == 0, done.stderr
    status = {s["vendor"]: s for s in json.loads(done.stdout)}
    assert str(SOFTHSM) in status["SoftHSM"]["installed"] and status["SoftHSM"]["install"] == ""
    safenet = status["SafeNet (Thales)"]
    assert safenet["installed"] == [] and safenet["supported_here"] is True
    assert "SafeNet Authentication Client" in safenet["install"]
    assert status["Viettel-CA"]["supported_here"] is False  # Windows drivers only
    assert all(s["source"] for s in status.values())
    done = cli("tokens", "--drivers")
    assert done.returncode == 0, done.stderr
    assert "module not installed; cài / install: SafeNet Authentication Client" in done.stdout
    assert "installed: /usr/lib/softhsm/libsofthsm2.so" in done.stdout
