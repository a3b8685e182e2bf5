"""``signer tokens``: the tokens connected, with their PIN state, then the remote signing
services (``[[remote]]``), each as a token of its own, and whether it answers, then the devices
and cards plugged in that no module serves: known models whose module is missing (and what to install),
and those not in the catalogue (USB id, ATR) for IT staff to add; ``--drivers``: the token
models the catalogue knows, whether their module is installed here, and what to install."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .output import print_json, printable

if TYPE_CHECKING:
    from ..config import Settings
    from ..keys import Connected, ConnectedDevice

CATALOGUE_FILE = "drivers/catalog/tokens.toml"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("tokens", parents=[common], help="list connected tokens / liệt kê token")
    parser.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    parser.add_argument(
        "--drivers", action="store_true",
        help="known token models and their drivers here / các loại token đã biết và driver trên máy này",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from dataclasses import asdict

    from ..keys import KeyStore, connected_devices

    if args.drivers:
        return _drivers(json_output=args.json)
    with KeyStore(settings) as store:
        tokens = store.tokens()
        services = asyncio.run(store.remote.states())
    connected = connected_devices()
    if args.json:
        print_json({
            "tokens": [asdict(t) for t in tokens],
            "remote": [s.to_json() for s in services],
            "modules_missing": [asdict(d) for d in connected.modules_missing],
            "unknown": [asdict(d) for d in connected.unknown],
            "not_available": connected.not_available,  # "usb" / "pcsc": why it could not be looked at
        })
        return 0
    if not tokens and not services:
        print("Không có token nào. / No token connected.")
    for t in tokens:
        state = [name.replace("_", " ") for name, on in asdict(t.flags).items() if on]
        print(f"{t.label or '(chưa khởi tạo / not initialised)'}  serial {t.serial or '-'}")
        print(f"    {t.manufacturer} {t.model}, module {t.module}")
        print(f"    {', '.join(state) or '-'}")
    for s in services:
        print(f"csc:{s.name}  {printable(s.url)}  (CSC API {s.api_version})")
        if s.error is None:
            print(f"    trả lời / answers, {s.credentials} chứng thư số / credential(s)")
        else:
            answer = "trả lời có lỗi / answers with an error" if s.reachable else "không trả lời / does not answer"
            print(f"    {answer}: {s.error.code} {printable(s.error.detail)}")
    print_connected(connected)
    return 0


def print_connected(connected: Connected) -> None:
    """The devices and cards no module serves; nothing at all when there are none."""
    if connected.modules_missing:
        print("Token đã biết nhưng chưa cài driver / Known tokens whose module is not installed:")
        for d in connected.modules_missing:
            print(f"    {_where(d)}: {printable(d.model)}")
            print(f"        cài / install: {printable(d.install) or '-'}")
    if connected.unknown:
        print(f"Chưa có trong danh mục, hãy thêm vào {CATALOGUE_FILE} / "
              f"Not in the catalogue: add them to {CATALOGUE_FILE}:")
        for d in connected.unknown:
            print(f"    {_where(d)}")


def _where(device: ConnectedDevice) -> str:
    if device.kind == "usb":
        return f"USB {device.usb_id}"
    return f"thẻ / card ATR {device.atr} (đầu đọc / reader {printable(device.reader)})"


def _drivers(*, json_output: bool) -> int:
    from dataclasses import asdict

    from ..keys import driver_statuses

    statuses = driver_statuses()
    if json_output:
        print_json([asdict(s) for s in statuses])
        return 0
    for s in statuses:
        print(f"{s.vendor}: {s.model}")
        if s.installed:
            print(f"    đã cài / installed: {', '.join(s.installed)}")
        elif not s.supported_here:
            print("    chưa có driver cho hệ điều hành này / no known module for this OS")
        else:
            print(f"    chưa cài driver / module not installed; cài / install: {s.install or '-'}")
    return 0
