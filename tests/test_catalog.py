"""The token catalogue and module discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drivers.catalog import TokenModel, load_catalog, models_for_atr, models_for_usb
from drivers.errors import TokenError
from drivers.modules import discover_modules

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
    assert [m.vendor for m in models_for_usb(0x096E, 0x0807)] == ["Feitian"]
    assert [m.vendor for m in models_for_usb(0x0529, 0x0620)] == ["SafeNet (Thales)"]
    assert [m.vendor for m in models_for_usb(0x25DD, 0x1234)] == ["Bit4id"]  # any product of the vendor
    assert models_for_usb(0x1234, 0x5678) == []
    atr = bytes.fromhex("3BD518008131 3A7D8073C8211030".replace(" ", ""))
    assert [m.vendor for m in models_for_atr(atr)] == ["SafeNet (Thales)"]
    assert models_for_atr(bytes.fromhex("3B951381018073FF01000B")) == []


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
