"""Hot-plug: time from a card's insertion and removal to the watchers' event, and the
watchers' idle CPU share beside the same process idle without watchers, same run; then the
same two things through the daemon, beside a daemon without watchers.

    python bench/hotplug.py [--rounds N] [--idle-s S]

Real parts: pcscd (its own reader configuration on a free port) with a virtual reader
and Debian's ``vicc -t iso7816`` card; SoftHSM with one token in a temporary folder.
Latency baseline: a bare pyscard ``SCardGetStatusChange`` waiting on the same reader in
the same process; an insertion or removal counts from the moment that baseline sees it
(the virtual card's start-up and pcscd's own reader polling are not the watchers' cost),
to the watchers' event in this process, and to the desktop companion's notification (a
``signer serve`` process watching PC/SC, its companion channel, ``tray.core.TrayCore`` here).
Idle share: process CPU time
over ``idle-s`` seconds with no watchers, then with the PC/SC, USB and PKCS#11
watchers running (PKCS#11 re-initialising SoftHSM every 2 s). Target: under 1 % of one core.

The daemon view: two real ``signer serve`` processes on free ports over the development tokens
(``softhsm-setup.sh`` in the temporary folder), one with the default watchers and one with
``[tokens] watch = []``. Their process CPU time (``/proc/PID/stat``) over the same ``idle-s``
seconds, measured side by side, with nobody connected; the difference is the watchers' cost
(target: under 1 % of one core; /proc counts clock ticks of 10 ms, 0.017 % of one core over
60 s). Then ``GET /v1/events`` of the watching daemon, read with the API token by a plain
``http.client`` stream on a thread here, while the card goes in and out ``rounds`` times: the
time from the bare pyscard baseline seeing the change to the daemon's ``arrived`` / ``left``
event reaching this client, median and max (target: 2 s).

Each target prints PASS or FAIL; the exit status is 1 when a daemon target (watchers' CPU
cost, event latency) is missed. CPU time is what the processes used, so a busy machine
inflates it little; the latency can suffer on a loaded machine: run it again before
concluding.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from smartcard import scard  # noqa: E402

from drivers.watchers import EventStream, TokenEvent, Watcher  # noqa: E402
from drivers.watchers.pcsc import PcscWatcher  # noqa: E402
from drivers.watchers.pkcs11 import Pkcs11Watcher  # noqa: E402
from tray.bridge import DialogBridge  # noqa: E402
from tray.core import TrayCore  # noqa: E402
from tray.notices import Notice  # noqa: E402

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
VICC_PATH = "/usr/lib/python3/site-packages/virtualsmartcard"
READER = "Virtual PCD 00 00"
CPU_TARGET = 0.01  # of one core
LATENCY_TARGET_S = 2.0
SETTLE_S = 3.0  # a daemon's start-up (module loading, first listings) is not idle
GUARD_S = 30.0  # only so that a broken part stops the bench instead of hanging it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratio(with_: float, without: float) -> str:
    if without <= 0:  # idle below the clock's resolution: no ratio to show
        return "ratio with/without: no CPU time counted without watchers"
    return f"ratio with/without {with_ / without:.1f}x"


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


def insert_card(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "/usr/bin/vicc", "-t", "iso7816", "-P", str(port)],
        env={**os.environ, "PYTHONPATH": VICC_PATH},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def remove_card(card: subprocess.Popen) -> None:
    card.terminate()
    card.wait()


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
            base = Baseline(READER, present=True)
            card = insert_card(port)
            event, at = next_event(stream, "arrived")
            inserted.append(at - base.seen())
            base = Baseline(READER, present=False)
            remove_card(card)
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


def in_process(idle_s: float) -> None:
    from drivers.tokens import open_module, release_module

    module = open_module(Path(SOFTHSM))
    try:
        without = cpu_share(idle_s, [])
        watching = [PcscWatcher(), Pkcs11Watcher(module), *usb_watchers()]
        names = ", ".join(w.name for w in watching)
        with_ = cpu_share(idle_s, watching)
    finally:
        release_module(module)
    print(f"idle CPU over {idle_s:.0f} s: without watchers {without * 100:.3f} % of one core, "
          f"with watchers ({names}) {with_ * 100:.3f} %")
    extra = with_ - without
    print(f"watchers' own share: {extra * 100:.3f} % of one core (target < 1 %: {verdict(extra < CPU_TARGET)}), "
          f"{ratio(with_, without)}")


# -- the daemon view ------------------------------------------------------------------------


def development_tokens(folder: Path) -> Path:
    """The development configuration and tokens (``softhsm-setup.sh``; no test CA services:
    an idle daemon and its token events need none)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(REPO / "softhsm-setup.sh"), str(folder), "--no-services"], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"softhsm-setup.sh failed: {done.stderr}")
    return folder


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads (man 5 proc: utime and stime,
    fields 14 and 15, counted after the command name, which may hold spaces)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sse:
    kind: str
    data: dict
    at: float  # time.monotonic() when it reached this client


class EventsClient:
    """GET /v1/events as a local client (the API token), read line by line on a thread."""

    def __init__(self, port: int, token: str) -> None:
        self.events: queue.Queue[Sse | None] = queue.Queue()
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD_S)
        self._connection.request("GET", "/v1/events", headers={"Authorization": f"Bearer {token}",
                                                                 "Accept": "text/event-stream"})
        self._socket = self._connection.sock  # kept: the reply may take it over from the connection
        reply = self._connection.getresponse()
        if reply.status != 200:
            raise SystemExit(f"GET /v1/events: {reply.status} {reply.read()[:300]!r}")
        self._thread = threading.Thread(target=self._read, args=(reply,), daemon=True)
        self._thread.start()

    def _read(self, reply: http.client.HTTPResponse) -> None:
        kind, data = None, {}
        try:
            for raw in iter(reply.readline, b""):
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event: "):
                    kind = line[len("event: "):]
                elif line.startswith("data: "):
                    data = json.loads(line[len("data: "):])
                elif not line and kind is not None:
                    self.events.put(Sse(kind, data, time.monotonic()))
                    kind, data = None, {}
        except (OSError, http.client.HTTPException):
            pass  # the stream was closed here, or the daemon stopped
        finally:
            self.events.put(None)

    def next(self, kind: str) -> Sse:
        """The next event of this kind (token events: from the PC/SC watcher only)."""
        while True:
            try:
                event = self.events.get(timeout=GUARD_S)
            except queue.Empty:
                event = None
            if event is None:
                raise SystemExit(f"no '{kind}' event from the daemon within {GUARD_S:.0f} s")
            if event.kind == kind and (kind == "present" or event.data.get("source") == "pcsc"):
                return event

    def close(self) -> None:
        if self._socket is not None:
            self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(GUARD_S)
        self._connection.close()


class ServedDaemon:
    """``signer serve`` as a process, on free ports, with its state in ``folder``."""

    def __init__(self, dev: Path, folder: Path, *, watchers: bool) -> None:
        folder.mkdir()
        config = folder / "signer.toml"
        text = (dev / "signer.toml").read_text().replace("[server]\n", f"""[server]
tls_dir = "{folder / 'tls'}"
state_dir = "{folder / 'state'}"
api_token_file = "{folder / 'api-token'}"
""")
        config.write_text(text if watchers else text.replace("[tokens]\n", "[tokens]\nwatch = []\n"))
        env = {**os.environ, "SOFTHSM2_CONF": str(dev / "softhsm2.conf"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        self._log = folder / "daemon.log"
        with self._log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "signer", "serve", "--config", str(config), "--port", "0", "--tls-port", "0"],
                stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        line = self.process.stdout.readline()
        if "Listening" not in line:
            self.stop()
            raise SystemExit(f"signer serve did not start: {line}{self._log.read_text()}")
        self.port = int(line.split("http://127.0.0.1:")[1].split()[0])
        self.token = (folder / "api-token").read_text().strip()

    def present(self) -> dict:
        """What the daemon says it watches (the first event of GET /v1/events)."""
        client = EventsClient(self.port, self.token)
        try:
            return client.next("present").data
        finally:
            client.close()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(GUARD_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def idle_side_by_side(daemons: list[ServedDaemon], idle_s: float) -> list[float]:
    """Each daemon's CPU share of one core over the same ``idle_s`` seconds."""
    time.sleep(SETTLE_S)
    cpu, wall = [d.cpu_seconds() for d in daemons], time.monotonic()
    time.sleep(idle_s)
    used = [d.cpu_seconds() - before for d, before in zip(daemons, cpu, strict=True)]
    elapsed = time.monotonic() - wall
    return [u / elapsed for u in used]


def daemon_latency(port: int, daemon: ServedDaemon, rounds: int) -> tuple[list[float], list[float], str]:
    """Seconds from the bare pyscard baseline seeing the card go in (out) to the daemon's
    ``arrived`` (``left``) event reaching this client; and the card's ATR as the daemon named it."""
    client = EventsClient(daemon.port, daemon.token)
    inserted, removed, atr = [], [], ""
    try:
        client.next("present")
        for _ in range(rounds):
            base = Baseline(READER, present=True)
            card = insert_card(port)
            arrived = client.next("arrived")
            inserted.append(arrived.at - base.seen())
            atr = arrived.data.get("atr") or ""
            base = Baseline(READER, present=False)
            remove_card(card)
            left = client.next("left")
            removed.append(left.at - base.seen())
    finally:
        client.close()
    return inserted, removed, atr


def described(present: dict) -> str:
    unavailable = f"; unavailable: {', '.join(present['unavailable'])}" if present["unavailable"] else ""
    return f"{', '.join(present['watchers']) or 'none'}{unavailable}"


def through_the_daemon(folder: Path, port: int, idle_s: float, rounds: int) -> bool:
    """The daemon view; whether both targets are met."""
    dev = development_tokens(folder / "dev")
    watching = ServedDaemon(dev, folder / "watching", watchers=True)
    try:
        quiet = ServedDaemon(dev, folder / "quiet", watchers=False)
        try:
            with_, without = idle_side_by_side([watching, quiet], idle_s)
            # asked after the idle time, which nobody's connection disturbed
            runs, quiet_runs = watching.present(), quiet.present()
            if "pcsc" not in runs["watchers"] or quiet_runs["watchers"]:
                raise SystemExit(f"the daemons do not watch as configured: {runs} / {quiet_runs}")
        finally:
            quiet.stop()
        inserted, removed, atr = daemon_latency(port, watching, rounds)
    finally:
        watching.stop()
    extra = with_ - without
    print(f"daemon idle CPU over {idle_s:.0f} s, side by side: without watchers {without * 100:.3f} % of one core, "
          f"with watchers ({described(runs)}) {with_ * 100:.3f} %")
    print(f"daemon watchers' cost: {extra * 100:.3f} % of one core (target < 1 %: {verdict(extra < CPU_TARGET)}), "
          f"{ratio(with_, without)}")
    slowest = max(inserted + removed)
    print(f"through GET /v1/events (card ATR {atr}), after bare pyscard saw it, {rounds} rounds: "
          f"insertion -> arrived median {statistics.median(inserted) * 1000:.0f} ms, max {max(inserted) * 1000:.0f} ms;"
          f" removal -> left median {statistics.median(removed) * 1000:.0f} ms, max {max(removed) * 1000:.0f} ms"
          f" (target < {LATENCY_TARGET_S:.0f} s: {verdict(slowest < LATENCY_TARGET_S)})")
    return extra < CPU_TARGET and slowest < LATENCY_TARGET_S


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
            in_process(args.idle_s)
            met = through_the_daemon(Path(tmp), port, args.idle_s, args.rounds)
        finally:
            pcscd.terminate()
            pcscd.wait()
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
