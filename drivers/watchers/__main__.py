"""Print token events as JSON lines: ``python -m drivers.watchers [--pcsc] [--usb] [--pkcs11 MODULE]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .events import EventStream, TokenEvent, Watcher


def _line(event: TokenEvent) -> str:
    model = f"{event.model.vendor} {event.model.model}" if event.model else None
    return json.dumps(
        {
            "kind": event.kind,
            "source": event.source,
            "reader": event.reader,
            "usb_id": event.usb_id,
            "slot": event.slot,
            "atr": event.atr,
            "label": event.label,
            "model": model,
            "module": event.module,
            "module_installed": event.module_installed,
            "at": event.at,
        },
        ensure_ascii=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.watchers")
    parser.add_argument("--pcsc", action="store_true")
    parser.add_argument("--usb", action="store_true")
    parser.add_argument("--pkcs11", type=Path, action="append", default=[], metavar="MODULE")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    args = parser.parse_args(argv)
    watchers: list[Watcher] = []
    if args.pcsc:
        from .pcsc import PcscWatcher

        watchers.append(PcscWatcher(relist_s=args.interval))
    if args.usb:
        from .usb import usb_watcher

        watchers.append(usb_watcher())
    for path in args.pkcs11:
        from ..tokens import open_module
        from .pkcs11 import Pkcs11Watcher

        watchers.append(Pkcs11Watcher(open_module(path), interval_s=args.interval))
    stream = EventStream(watchers)
    stream.start()
    print(json.dumps({"ready": [w.name for w in watchers]}), flush=True)
    try:
        while True:
            event = stream.get()
            if event is not None:
                print(_line(event), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
