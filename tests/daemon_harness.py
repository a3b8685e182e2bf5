"""Running the real daemon on free loopback ports inside the test process.

The daemon runs ``signer.server.run_daemon`` on its own event loop in a thread,
with the development tokens, and with its state, TLS and API token in a temporary
folder. Every call submitted to a PKCS#11 worker is counted, so tests can assert
that a refused request never reached the token.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from policies.origins import normalize_origin
from signer.config import ConsentSettings, ServerSettings, Settings, load_settings
from signer.daemon import Daemon
from signer.listeners import bind_ports
from signer.security.peers import PeerGate
from signer.server import Listening, run_daemon
from signer.tls import TlsFiles, ensure_local_tls, server_ssl_context


class RunningDaemon:
    def __init__(
        self,
        config: Path,
        folder: Path,
        *,
        allow_origins: tuple[str, ...] = (),
        pregranted: tuple[str, ...] = (),
        unattended: tuple[str, ...] = (),
        consent_timeout_s: float = 5.0,
        limits: dict[str, float] | None = None,
        companion_channel: str = "unix",
        peers: PeerGate | None = None,
    ) -> None:
        base = load_settings(config)
        self.settings: Settings = replace(
            base,
            server=ServerSettings(
                tls_dir=folder / "tls", state_dir=folder / "state", api_token_file=folder / "config" / "api-token",
                companion_channel=companion_channel,
            ),
            consent=ConsentSettings(pregranted=pregranted, timeout_s=consent_timeout_s,
                                    unattended=tuple(normalize_origin(o) or o for o in unattended)),
            limits=limits or {},
        )
        self.allow_origins = allow_origins
        self.peers = peers
        self.tls: TlsFiles = ensure_local_tls(self.settings.server.tls_dir)
        self.token_calls = 0
        self.token_functions: list[str] = []  # what each of those calls ran (e.g. "_login", "_sign_if_ready")
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.listening: Listening | None = None

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> RunningDaemon:
        self.daemon = Daemon(self.settings, allow_origins=self.allow_origins, peers=self.peers)
        for module in self.daemon.signing.keys.modules:
            self._count_calls(module.worker)
        self._thread = threading.Thread(target=self._run, name="daemon", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._error:
            raise RuntimeError(f"daemon did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop and self._stop
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        for module in self.daemon.signing.keys.modules:
            self._uncount_calls(module.worker)
        self.daemon.close()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(listening: Listening) -> None:
                self.listening = listening
                self._ready.set()

            bound = bind_ports(0, 0)
            try:
                await run_daemon(self.daemon, bound=bound, ssl_context=server_ssl_context(self.tls),
                                 stop=self._stop, on_ready=ready)
            finally:
                bound.close()

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by __enter__
            self._error = exc
            self._ready.set()

    def _count_calls(self, worker: Any) -> None:
        original = worker.submit

        def counting(fn, *args, **kwargs):
            name = getattr(fn, "__name__", repr(fn))
            if name != "_poll_tokens":  # the daemon's slot watcher, on its own schedule: no request's doing
                self.token_calls += 1
                self.token_functions.append(name)
            return original(fn, *args, **kwargs)

        worker.submit = counting

    @staticmethod
    def _uncount_calls(worker: Any) -> None:
        worker.__dict__.pop("submit", None)

    # -- what tests use ------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.listening
        return f"http://127.0.0.1:{self.listening.http_port}"

    @property
    def tls_url(self) -> str:
        assert self.listening
        return f"https://127.0.0.1:{self.listening.https_port}"

    @property
    def api_token(self) -> str:
        return self.settings.server.api_token_file.read_text().strip()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}

    def audit_settled(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The audit lines once there are ``count``: a socket's line is written after its reply."""
        deadline = time.monotonic() + timeout
        while len(lines := self.audit_lines()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return lines

    def audit_lines(self) -> list[dict[str, Any]]:
        path = self.settings.server.state_dir / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]
