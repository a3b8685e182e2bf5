"""``signer tokens`` naming what is plugged in but served by no module: cards in PC/SC readers
(pcscd with a virtual reader and card, as in test_watchers) and USB devices (udev).
The PC/SC tests need no other pcscd running on the machine: run them alone."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from pcsc_harness import GUARD_S, VICC_ATR, end, pcscd, vicc

from drivers.catalog import TokenModel
from drivers.watchers.pcsc import connected_cards
from drivers.watchers.present import Card, Seen, UsbDevice, worth_listing
from drivers.watchers.usb import connected_usb
from signer.cli.tokens import print_connected
from signer.keys import connected_devices
from tests.conftest import assert_no_traceback

__all__ = ["pcscd"]  # a fixture, used by name

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
CATALOGUE_LINE = "Not in the catalogue: add them to drivers/catalog/tokens.toml"
VIETNAMESE_LINE = "Chưa có trong danh mục, hãy thêm vào drivers/catalog/tokens.toml"


def _virtual_card_model(module: str) -> TokenModel:
    return TokenModel(
        vendor="Test",
        model="Virtual card",
        modules={"linux": (module,)},
        usb=(),
        atrs=(re.escape(VICC_ATR),),
        source=("https://frankmorgner.github.io/vsmartcard/",),
        install="the virtual card's driver package",
    )


def _card_seen() -> Seen[Card]:
    """The snapshot once pcscd has noticed the card vicc put in (vpcd polls its socket)."""
    deadline = time.monotonic() + GUARD_S
    while True:
        seen = connected_cards()
        if seen.found:
            return seen
        assert time.monotonic() < deadline, f"pcscd never reported the virtual card: {seen}"
        time.sleep(0.1)


def test_unknown_card_is_listed_with_its_atr(pcscd: int, cli) -> None:
    card = vicc(pcscd)
    try:
        seen = _card_seen()
        assert [(c.atr_text, c.model) for c in seen.found] == [(VICC_ATR, None)]
        listed = cli("tokens", "--json")
        assert listed.returncode == 0, listed.stderr
        result = json.loads(listed.stdout)
        assert set(result) == {"tokens", "remote", "modules_missing", "unknown", "not_available"}
        assert result["remote"] == []  # no [[remote]] service configured
        assert "pcsc" not in result["not_available"]
        assert {t["label"] for t in result["tokens"] if t["flags"]["initialized"]} == {
            "Token Le Hong Son", "Token VP UBND Ha Noi"}
        cards = [d for d in result["unknown"] if d["kind"] == "card"]
        assert len(cards) == 1
        assert cards[0]["reader"].startswith("Virtual PCD")
        assert {k: v for k, v in cards[0].items() if k != "reader"} == {
            "kind": "card", "usb_id": None, "atr": VICC_ATR, "model": None, "module_installed": False, "install": ""}
        assert not [d for d in result["modules_missing"] if d["kind"] == "card"]

        shown = cli("tokens")
        assert shown.returncode == 0, shown.stderr
        assert "Token Le Hong Son" in shown.stdout
        assert CATALOGUE_LINE in shown.stdout and VIETNAMESE_LINE in shown.stdout
        assert f"thẻ / card ATR {VICC_ATR} (đầu đọc / reader {cards[0]['reader']})" in shown.stdout
        assert_no_traceback(shown)
    finally:
        end(card)


def test_card_in_the_catalogue_is_known_and_its_missing_module_named(pcscd: int, capsys) -> None:
    """The catalogue's reader has no way to take another file, so the matcher is given a
    temporary catalogue in-process, on the real snapshot of the real card."""
    card = vicc(pcscd)
    try:
        _card_seen()
        missing = _virtual_card_model("/nonexistent/libvirtual-pkcs11.so")
        (found,) = connected_cards([missing]).found
        assert found.model == missing
        connected = connected_devices([missing])
        assert connected.unknown == ()
        (device,) = connected.modules_missing
        assert (device.kind, device.atr, device.model, device.module_installed, device.install) == (
            "card", VICC_ATR, "Test Virtual card", False, "the virtual card's driver package")
        print_connected(connected)
        out = capsys.readouterr().out
        assert "Known tokens whose module is not installed" in out
        assert f"thẻ / card ATR {VICC_ATR} (đầu đọc / reader {found.reader}): Test Virtual card" in out
        assert "cài / install: the virtual card's driver package" in out
        assert CATALOGUE_LINE not in out  # nothing listed as unknown

        installed = connected_devices([_virtual_card_model(SOFTHSM)])  # its module is on this machine
        assert installed.unknown == () and installed.modules_missing == ()
        assert [d.module_installed for d in installed.devices] == [True]
        print_connected(installed)
        assert capsys.readouterr().out == ""
    finally:
        end(card)


def test_no_card_adds_nothing(pcscd: int, cli) -> None:
    listed = cli("tokens", "--json")
    assert listed.returncode == 0, listed.stderr
    result = json.loads(listed.stdout)
    assert "pcsc" not in result["not_available"]
    assert not [d for d in result["unknown"] + result["modules_missing"] if d["kind"] == "card"]
    shown = cli("tokens")
    assert shown.returncode == 0, shown.stderr
    assert "ATR" not in shown.stdout


def test_pcsc_service_not_running_is_said_in_json_only(cli) -> None:
    assert connected_cards() == Seen(not_available="the PC/SC service is not running")
    listed = cli("tokens", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["not_available"]["pcsc"] == "the PC/SC service is not running"
    shown = cli("tokens")
    assert shown.returncode == 0, shown.stderr
    assert "PC/SC" not in shown.stdout + shown.stderr
    assert_no_traceback(shown)


def test_udev_snapshot_reads_the_devices_sysfs_lists() -> None:
    """Whatever USB devices this machine has (perhaps none): udev's ids are sysfs' ids."""
    seen = connected_usb()
    assert seen.not_available is None
    for device in seen.found:
        assert re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{4}", device.usb_id)
        assert all(0 <= c <= 0xFF for c in device.classes)
    sysfs = Path("/sys/bus/usb/devices")
    expected = sorted(
        f"{(d / 'idVendor').read_text().strip()}:{(d / 'idProduct').read_text().strip()}"
        for d in (sysfs.iterdir() if sysfs.is_dir() else ())
        if (d / "idVendor").is_file()
    )
    assert sorted(d.usb_id for d in seen.found) == expected


@pytest.mark.parametrize(
    ("classes", "known", "listed"),
    [
        (frozenset({0x09}), False, False),  # a hub
        (frozenset({0x00, 0x03}), False, False),  # a mouse (HID interface)
        (frozenset({0x00, 0x08}), False, False),  # a USB disk
        (frozenset({0x00, 0x0B}), False, True),  # a CCID smart-card interface: an unknown token
        (frozenset({0x00, 0xFF}), False, True),  # vendor-specific: many tokens
        (frozenset({0x00, 0x03, 0x08}), True, True),  # in the catalogue, whatever its interfaces
    ],
)
def test_usb_listing_leaves_out_hubs_and_mice(classes: frozenset[int], known: bool, listed: bool) -> None:
    model = _virtual_card_model(SOFTHSM) if known else None
    assert worth_listing(UsbDevice(0x1234, 0x5678, classes, model)) is listed
