"""Hot-plug: time from a card's insertion and removal to the watchers' event, and the
watchers' idle CPU share beside the same process idle without watchers, same run.

    python bench/hotplug.py [--rounds N] [--idle-s S]

Real parts: pcscd (its own reader configuration on a free port) with a virtual reader
and Debian's ``vicc -t iso7816`` card; SoftHSM with one token in a temporary folder.
Latency baseline: a bare pyscard ``SCardGetStatusChange`` waiting on the same reader in
the same process; an insertion or removal counts from the moment that baseline sees it
(the virtual card's start-up and pcscd's own reader polling are not the watchers' cost),
to the watchers' event in this process, and to the desktop companion's notification (a
``signer serve`` process watching PC/SC, its companion channel, ``tray.core.TrayCore`` here).
Idle share: process CPU time over ``idle-s`` seconds with no watchers, then with the PC/SC,
USB and PKCS#11 watchers running (PKCS#11 re-initialising SoftHSM every 2 s). Target: under
1 % of one core.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartcard import scard  # noqa: E402

from drivers.watchers import EventStream, TokenEvent, Watcher  # noqa: E402
from drivers.watchers.pcsc import PcscWatcher  # noqa: E402
from drivers.watchers.pkcs11 import Pkcs11Watcher  # noqa: E402
from tray.bridge import DialogBridge  # noqa: E402
from tray.core import TrayCore  # noqa: E402
from tray.notices import Notice  # noqa: E402

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
VICC_PATH = "/usr/lib/python3/site-packages/virtualsmartcard"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_pcscd(folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = folder / "reader.conf.d"
    conf.mkdir()
    (conf / "vpcd").write_text(
        f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{port:04X}\n'
        f"LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID 0x{port:04X}\n"
    )
    log = folder / "pcscd.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["pcscd", "--foreground", "--info", "-c", str(conf)], stdout=out, stderr=out)
    while "daemon ready" not in log.read_text():
        if proc.poll() is not None:
            raise SystemExit(f"pcscd did not start (another pcscd running?): {log.read_text()}")
        time.sleep(0.05)
    return proc, port


class Baseline:
    """Bare pyscard on its own thread, blocking until the reader's card is (or is not) there."""

    def __init__(self, reader: str, *, present: bool) -> None:
        self._at: list[float] = []
        _, self._ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        # the reader's current state first, so that only the change wakes the thread
        _, answered = scard.SCardGetStatusChange(self._ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        self._thread = threading.Thread(target=self._wait, args=(reader, present, answered[0][1]))
        self._thread.start()

    def _wait(self, reader: str, present: bool, state: int) -> None:
        try:
            while bool(state & scard.SCARD_STATE_PRESENT) != present:
                _, answered = scard.SCardGetStatusChange(self._ctx, 30000, [(reader, state)])
                state = answered[0][1] & ~scard.SCARD_STATE_CHANGED
            self._at.append(time.monotonic())
        finally:
            scard.SCardReleaseContext(self._ctx)

    def seen(self) -> float:
        self._thread.join()
        return self._at[0]


def next_event(stream: EventStream, kind: str) -> tuple[TokenEvent, float]:
    while True:
        event = stream.get(timeout=30)
        if event is None:
            raise SystemExit(f"no '{kind}' event within 30 s")
        if event.kind == kind and event.source == "pcsc":
            return event, time.monotonic()


def latency(port: int, rounds: int) -> None:
    stream = EventStream([PcscWatcher()])
    stream.start()
    inserted, removed = [], []
    try:
        for _ in range(rounds):
            base = Baseline("Virtual PCD 00 00", present=True)
            card = subprocess.Popen(
                [sys.executable, "/usr/bin/vicc", "-t", "iso7816", "-P", str(port)],
                env={**os.environ, "PYTHONPATH": VICC_PATH},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            event, at = next_event(stream, "arrived")
            inserted.append(at - base.seen())
            base = Baseline("Virtual PCD 00 00", present=False)
            card.terminate()
            card.wait()
            _, at = next_event(stream, "left")
            removed.append(at - base.seen())
        print(f"card ATR {event.atr}, model {event.model.model if event.model else 'not in the catalogue'}")
    finally:
        stream.stop()
    print(f"insertion -> arrived event, after bare pyscard saw it: median {sorted(inserted)[rounds // 2] * 1000:.0f} ms"
          f" (debounce {stream.debounce_s * 1000:.0f} ms included)")
    print(f"removal -> left event, after bare pyscard saw it: median {sorted(removed)[rounds // 2] * 1000:.0f} ms")


class NoDialogs:
    def open(self, bridge: DialogBridge) -> None:
        pass

    def close(self, bridge: DialogBridge) -> None:
        pass


def start_daemon(folder: Path) -> subprocess.Popen:
    """``signer serve`` watching PC/SC only, its state (and companion channel) in ``folder``."""
    config = folder / "signer.toml"
    config.write_text(f"""[tokens]
modules = []
watch = ["pcsc"]

[server]
tls_dir = "{folder / 'tls'}"
state_dir = "{folder / 'state'}"
api_token_file = "{folder / 'api-token'}"
""")
    process = subprocess.Popen([sys.executable, "-m", "signer", "serve", "--config", str(config), "--port", "0",
                                "--tls-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if "Listening" not in (process.stdout.readline() if process.stdout else ""):
        raise SystemExit("signer serve did not start")
    return process


def next_notice(core: TrayCore, kind: str, seen: int) -> Notice:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for notice in list(core.notifications)[seen:]:
            if notice.token["kind"] == kind and notice.token["source"] == "pcsc":
                return notice
        time.sleep(0.005)
    raise SystemExit(f"no '{kind}' notification within 30 s")


def companion_latency(port: int, rounds: int, folder: Path) -> None:
    daemon = start_daemon(folder)
    core = TrayCore(folder / "state", NoDialogs())
    inserted, removed = [], []
    try:
        core.start()
        if not core.connected.wait(10):
            raise SystemExit(f"the companion did not connect: {core.error}")
        for _ in range(rounds):
            seen = len(core.notifications)
            base = Baseline("Virtual PCD 00 00", present=True)
            card = subprocess.Popen(
                [sys.executable, "/usr/bin/vicc", "-t", "iso7816", "-P", str(port)],
                env={**os.environ, "PYTHONPATH": VICC_PATH},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            inserted.append(next_notice(core, "arrived", seen).shown_at - base.seen())
            seen = len(core.notifications)
            base = Baseline("Virtual PCD 00 00", present=False)
            card.terminate()
            card.wait()
            removed.append(next_notice(core, "left", seen).shown_at - base.seen())
    finally:
        core.stop()
        daemon.terminate()
        daemon.wait()
    print(f"insertion -> companion's notification, after bare pyscard saw it: median "
          f"{sorted(inserted)[rounds // 2] * 1000:.0f} ms (target < 2 s)")
    print(f"removal -> companion's notification, after bare pyscard saw it: median "
          f"{sorted(removed)[rounds // 2] * 1000:.0f} ms (target < 2 s)")


def cpu_share(idle_s: float, watchers: list[Watcher]) -> float:
    stream = EventStream(watchers) if watchers else None
    if stream:
        stream.start()
    time.sleep(1)  # start-up (module loading, first listing) is not idle
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(idle_s)
    share = (time.process_time() - cpu) / (time.monotonic() - wall)
    if stream:
        stream.stop()
    return share


def softhsm_token(folder: Path) -> None:
    tokens = folder / "tokens"
    tokens.mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "12345678", "--pin", "1234"],
        check=True,
        capture_output=True,
    )


def usb_watchers() -> list[Watcher]:
    try:
        from drivers.watchers.usb import usb_watcher

        return [usb_watcher()]
    except Exception as exc:  # no udev here (a container): measured without it
        print(f"USB watcher not available here: {exc!r}")
        return []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pcscd, port = start_pcscd(Path(tmp))
        try:
            latency(port, args.rounds)
            companion_latency(port, args.rounds, Path(tmp))
            softhsm_token(Path(tmp))
            from drivers.tokens import open_module, release_module

            module = open_module(Path(SOFTHSM))
            try:
                without = cpu_share(args.idle_s, [])
                watching = [PcscWatcher(), Pkcs11Watcher(module), *usb_watchers()]
                names = ", ".join(w.name for w in watching)
                with_ = cpu_share(args.idle_s, watching)
            finally:
                release_module(module)
        finally:
            pcscd.terminate()
            pcscd.wait()
    print(f"idle CPU over {args.idle_s:.0f} s: without watchers {without * 100:.3f} % of one core, "
          f"with watchers ({names}) {with_ * 100:.3f} %")
    extra = with_ - without
    ratio = with_ / without if without > 0 else float("inf")
    print(f"watchers' own share: {extra * 100:.3f} % of one core (target < 1 %), ratio with/without {ratio:.1f}x")


if __name__ == "__main__":
    main()
