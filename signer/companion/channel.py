"""The channel between the daemon and its desktop companion (``signer tray``).

Local only and authenticated, and apart from the page-facing listeners: a Unix socket in
the user's state folder (mode 0600) on POSIX, loopback TCP on a random port elsewhere, and
on both a per-user secret (``companion.secret``, mode 0600) as a bearer token. A peer
process of another OS user is refused first (``signer.security.peers``). A request
that carries an ``Origin`` (a browser) is refused whatever else it carries. Where to
connect is written to ``companion.json`` beside the secret.

One WebSocket, JSON messages. The daemon sends ``prompt`` (consent, confirmation, PIN,
``authorise``: a remote credential's PIN and/or one-time code, or ``plug_in``: a signature
waits for its token), ``closed`` (a prompt ended without an answer),
``pin_result``, ``batch`` (progress), ``token`` (a token arrived or left) and ``reply``; the
companion sends ``answer``, ``request`` (status, activity, origins, settings, revoke,
``page``: a page of the document whose block the official places in an open consent prompt, and
``enroll_request`` / ``enroll_import``: enrolment from its settings window) and ``cancel_batch``.
A newer connection replaces an older one; when the companion quits (its connection ends and no
newer one replaced it), the tokens log out.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from policies.limits import Limits
from policies.origins import OriginAllowlist

from ..audit import AuditLog
from ..config import Settings
from ..errors import Code, SignerError
from ..files import write_atomically
from ..keys import KeyStore
from ..keys.pins import PINPAD, Pin, PinRequest
from ..keys.remote import Authorisation, AuthorisationRequest
from ..keys.watch import TokenWatch
from ..logs import get_logger
from ..security.peers import PeerGate
from ..service.batches.manager import BatchManager
from ..service.caller import ABSENT
from ..service.consent import ConsentStore
from ..service.enrolling import Enrolment
from ..service.placing import Placing
from ..service.prompts import (
    ALWAYS,
    ONCE,
    REFUSE,
    ConsentRequest,
    PinPurpose,
    PlugInRequest,
    Prompts,
    authorisation_message,
    pin_message,
)
from ..service.sessions import LoginSessions
from ..service.trail import record
from ..sockets import bound_port
from ..tls import tls_status
from .enrolment import enroll_import, enroll_request

log = get_logger(__name__)

SOCKET, SECRET, ADDRESS = "companion.sock", "companion.secret", "companion.json"
ACTIVITY = 20  # audit lines shown in the tray menu
ENROLMENT = ("enroll_request", "enroll_import")  # requests that wait for the official (the PIN dialog)


@dataclass(frozen=True)
class CompanionParts:
    """What the channel uses of the daemon."""

    settings: Settings
    limits: Limits
    prompts: Prompts
    batches: BatchManager
    keys: KeyStore
    sessions: LoginSessions
    audit: AuditLog
    consent_store: ConsentStore
    allowlist: OriginAllowlist
    peers: PeerGate
    watch: TokenWatch
    enrolment: Enrolment


class CompanionLink:
    """The connected companion, as the daemon's asker."""

    def __init__(self, parts: CompanionParts, ws: web.WebSocketResponse) -> None:
        self.parts = parts
        self.ws = ws
        self._waiting: dict[str, asyncio.Future] = {}
        self._placing: dict[str, Placing] = {}  # open questions of where a block goes, by prompt
        self._last_pin: str | None = None
        self._working: set[asyncio.Task] = set()  # requests answered beside the messages that follow them

    @property
    def available(self) -> bool:
        return not self.ws.closed

    async def consent(self, request: ConsentRequest, timeout_s: float) -> str:
        """With ``request.placing``, a yes carries where the official put the block (none: a refusal)."""
        prompt_id = secrets.token_hex(8)
        if request.placing is not None:
            self._placing[prompt_id] = request.placing
        try:
            answer = await self._ask({"kind": "consent", **request.as_message()}, timeout_s, prompt_id)
        finally:
            self._placing.pop(prompt_id, None)
        decision = answer.get("decision")
        if decision not in (ONCE, ALWAYS):
            return REFUSE
        if request.placing is not None and not request.placing.answer(answer.get("placement")):
            return REFUSE
        return decision

    async def pin(self, request: PinRequest, timeout_s: float, purpose: PinPurpose | None = None) -> Pin:
        prompt_id = secrets.token_hex(8)
        self._last_pin = prompt_id
        answer = await self._ask({"kind": "pin", **pin_message(request, purpose)}, timeout_s, prompt_id)
        if answer.get("cancel"):
            raise SignerError(Code.USER_CANCELLED, "the PIN dialog was closed")
        if request.flags.protected_authentication_path:
            return PINPAD
        pin = answer.get("pin")
        if not isinstance(pin, str) or not pin:
            raise SignerError(Code.USER_CANCELLED, "no PIN typed")
        return pin

    async def authorise(self, request: AuthorisationRequest, timeout_s: float,
                        purpose: PinPurpose | None = None) -> Authorisation:
        """The dialog asking for a remote credential's PIN and/or one-time code; each asked for
        must be typed (left empty: cancelled, as an empty token PIN is)."""
        answer = await self._ask({"kind": "authorise", **authorisation_message(request, purpose)}, timeout_s)
        pin, otp = answer.get("pin"), answer.get("otp")
        typed = all(isinstance(value, str) and value for asked, value in ((request.pin, pin), (request.otp, otp))
                    if asked)
        if answer.get("cancel") or not typed:
            raise SignerError(Code.USER_CANCELLED, f"{request.service}: the PIN / one-time code dialog was closed",
                              vi=f"{request.service}: hộp thoại nhập mã PIN / mã OTP đã bị đóng")
        return Authorisation(pin=pin if request.pin else None, otp=otp if request.otp else None)

    async def plug_in(self, request: PlugInRequest) -> None:
        """The dialog asking for the token, until cancelled (closed then) or answered (the
        official stopped waiting)."""
        prompt_id = secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self._waiting[prompt_id] = future
        try:
            await self.ws.send_json({"type": "prompt", "id": prompt_id, "kind": "plug_in",
                                     "timeout_s": request.wait_s, **request.as_message()})
            await future
        except (ConnectionError, RuntimeError):
            raise SignerError(Code.TOKEN_NOT_PRESENT, "the desktop companion went away while waiting for the token",
                              vi="ứng dụng khay đã đóng khi đang chờ cắm token",
                              ) from None
        except asyncio.CancelledError:
            await self.send({"type": "closed", "id": prompt_id, "reason": "done"})
            raise
        finally:
            self._waiting.pop(prompt_id, None)

    async def pin_result(self, error: SignerError | None) -> None:
        if self._last_pin is None:
            return
        message = {"type": "pin_result", "id": self._last_pin, "ok": error is None}
        if error is not None:
            message.update(code=error.code, message_en=error.message_en, message_vi=error.message_vi,
                           **{k: v for k, v in error.facts.items() if k in ("final_try", "count_low", "locked")})
        self._last_pin = None
        await self.send(message)

    async def send(self, message: dict) -> None:
        if not self.ws.closed:
            try:
                await self.ws.send_json(message)
            except (ConnectionError, RuntimeError):
                pass  # the companion went away; the next prompt finds it gone

    async def _ask(self, prompt: dict, timeout_s: float, prompt_id: str | None = None) -> dict:
        prompt_id = prompt_id or secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self._waiting[prompt_id] = future
        try:
            await self.ws.send_json({"type": "prompt", "id": prompt_id, "timeout_s": timeout_s, **prompt})
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            await self.send({"type": "closed", "id": prompt_id, "reason": "timeout"})
            if prompt["kind"] == "consent":
                return {"decision": REFUSE}
            raise SignerError(Code.USER_CANCELLED, "no PIN typed in time") from None
        except (ConnectionError, RuntimeError):
            code = Code.CONSENT_DENIED if prompt["kind"] == "consent" else Code.USER_CANCELLED
            raise SignerError(code, "the desktop companion went away before an answer",
                              vi="ứng dụng khay đã đóng trước khi có câu trả lời") from None
        finally:
            self._waiting.pop(prompt_id, None)

    # -- what the companion sends ------------------------------------------------

    async def serve(self) -> None:
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
                kind = data.get("type")
            except (ValueError, AttributeError):
                continue
            if kind == "answer":
                future = self._waiting.get(str(data.get("id")))
                if future is not None and not future.done():
                    future.set_result(data)
            elif kind == "request" and data.get("what") in ENROLMENT:
                # its PIN dialog's answer comes over this loop: the request must not hold it
                task = asyncio.create_task(self._answer(data))
                self._working.add(task)
                task.add_done_callback(self._working.discard)
            elif kind == "request":
                await self._answer(data)
            elif kind == "cancel_batch":
                self._cancel_batch(str(data.get("batch")))

    async def _answer(self, data: dict) -> None:
        await self.send({"type": "reply", "id": data.get("id"), **await self._reply(data)})

    def abandon(self) -> None:
        """Gone with a question open: nobody will answer it."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("companion disconnected"))

    async def _reply(self, data: dict) -> dict:
        what = data.get("what")
        try:
            if what == "status":
                return {"data": await asyncio.to_thread(self._status)}
            if what == "activity":
                return {"data": await asyncio.to_thread(self._activity)}
            if what == "settings":
                return {"data": await asyncio.to_thread(self._settings)}
            if what == "page":  # a page of an open placement question, rendered for its dialog
                placing = self._placing.get(str(data.get("prompt")))
                if placing is None:
                    raise SignerError(Code.NOT_FOUND, "no such question is open", vi="không có câu hỏi này đang mở")
                return {"data": await placing.page(data.get("page"))}
            if what == "revoke":
                return {"data": {"revoked": self.parts.consent_store.revoke(str(data.get("origin", "")))}}
            if what == "enroll_request":
                return {"data": await enroll_request(self.parts.enrolment, data)}
            if what == "enroll_import":
                return {"data": await enroll_import(self.parts.enrolment, data)}
        except SignerError as error:
            return {"error": error.code, "message_en": error.message_en, "message_vi": error.message_vi}
        return {"error": "BAD_REQUEST", "message_en": f"unknown request {what!r}", "message_vi": "yêu cầu không rõ"}

    def _cancel_batch(self, batch_id: str) -> None:
        batch = self.parts.batches.get(batch_id)
        if batch is not None:
            self.parts.batches.cancel(batch)

    def _status(self) -> dict:
        try:
            tokens = [{"label": t.label, "serial": t.serial, "count_low": t.flags.pin_count_low,
                       "final_try": t.flags.pin_final_try, "locked": t.flags.pin_locked}
                      for t in self.parts.keys.tokens() if t.flags.initialized]
        except SignerError:
            tokens = []
        return {"running": True, "tokens": tokens, "pending": len(self._waiting),
                "batches": self.parts.batches.running_count(),
                "connected": [c.as_message() for c in self.parts.watch.connected()]}

    async def tell_tokens(self) -> None:
        """Each token arriving or leaving, for the companion's notification and its live list."""
        async with self.parts.watch.listen() as changes:
            while not self.ws.closed:
                change = await changes.get()
                await self.send({"type": "token", **change.as_message()})

    def _activity(self) -> list[dict]:
        entries = self.parts.audit.recent(ACTIVITY)
        return [{"time": e.time, "origin": e.origin, "operation": e.operation, "result": e.result}
                for e in reversed(entries)]

    def _settings(self) -> dict:
        store = self.parts.consent_store
        consents = store.load()
        origins = [{"origin": o, "listed": True, "scopes": store.described(o)} for o in self.parts.allowlist.listed()]
        origins += [{"origin": o, "listed": False, "scopes": store.described(o)}
                    for o in consents if o not in self.parts.allowlist.listed()]
        looks = {label: {"signature_image": _png(look.signature_image), "seal_image": _png(look.seal_image),
                         "organisation": look.organisation}
                 for label, look in self.parts.settings.appearance.items()}
        return {"origins": origins, "appearance": looks, "tls": _tls(self.parts.settings)}


def _tls(settings: Settings) -> dict:
    state = tls_status(settings.server.tls_dir)
    return {"present": state.present, "not_after": state.not_after.isoformat() if state.not_after else None,
            "days_left": state.days_left, "ca_fingerprint_sha256": state.ca_fingerprint_sha256,
            "needs_renewal": state.needs_renewal}


def _png(path: Path | None) -> str | None:
    try:
        return base64.b64encode(path.read_bytes()).decode() if path else None
    except OSError:
        return None


def _refuse(request: web.Request, secret: str) -> web.Response | None:
    """Browsers never: any Origin is refused. Then the per-user secret."""
    if "Origin" in request.headers:
        return web.json_response({"code": "ORIGIN_NOT_ALLOWED"}, status=403)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
        return web.json_response({"code": "UNAUTHORIZED"}, status=401)
    return None


async def _refuse_peer(request: web.Request, parts: CompanionParts) -> web.Response | None:
    """Another OS user's program: refused before anything else, with one audit line."""
    if await parts.peers.allows(request.transport):
        return None
    error = SignerError(Code.PEER_NOT_ALLOWED)
    record(parts.audit, None, f"{request.method} {request.path}", error.code,
           name=(request.headers.get("Origin") or ABSENT)[:200])
    response = web.json_response(error.as_dict(), status=error.http_status)
    response.force_close()
    return response


def channel_app(parts: CompanionParts, secret: str) -> web.Application:
    async def channel(request: web.Request) -> web.StreamResponse:
        refused = await _refuse_peer(request, parts) or _refuse(request, secret)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(heartbeat=parts.limits.ws_heartbeat_s)
        await ws.prepare(request)
        link = CompanionLink(parts, ws)
        parts.prompts.companion = link
        parts.batches.watchers.add(link.send)
        telling = asyncio.create_task(link.tell_tokens())
        log.info("companion_connected")
        try:
            await link.serve()
        finally:
            telling.cancel()
            link.abandon()
            parts.batches.watchers.discard(link.send)
            if parts.prompts.companion is link:  # quit, not replaced by a newer connection
                parts.prompts.companion = None
                await parts.sessions.end_all()  # nobody is there to see what a logged-in token signs
            log.info("companion_disconnected")
        return ws

    app = web.Application()
    app.router.add_get("/v1/channel", channel)
    return app


@asynccontextmanager
async def companion_channel(parts: CompanionParts) -> AsyncIterator[dict[str, Any]]:
    """Serve the channel while the daemon runs; yields where it listens."""
    state = parts.settings.server.state_dir
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(32)
    write_atomically(state / SECRET, secret.encode(), mode=0o600, error_code=Code.CONFIG_INVALID)
    runner = web.AppRunner(channel_app(parts, secret), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        if parts.settings.server.companion_channel == "unix":
            path = _socket_path(state)
            path.unlink(missing_ok=True)
            site: web.BaseSite = web.UnixSite(runner, str(path))
            await site.start()
            os.chmod(path, 0o600)
            address: dict[str, Any] = {"unix": str(path)}
        else:
            tcp = web.TCPSite(runner, "127.0.0.1", 0)
            await tcp.start()
            address = {"tcp": bound_port(tcp)}
        write_atomically(state / ADDRESS, json.dumps(address).encode(), mode=0o600, error_code=Code.CONFIG_INVALID)
        yield address
    finally:
        await runner.cleanup()
        (state / ADDRESS).unlink(missing_ok=True)


def _socket_path(state: Path) -> Path:
    """In the state folder; a folder too deep for a socket name (about 100 bytes) gets a
    private one in the temporary folder instead."""
    path = state / SOCKET
    if len(os.fsencode(path)) < 100:
        return path
    folder = Path(tempfile.gettempdir()) / f"signer-{os.getuid()}-{hashlib.sha256(os.fsencode(state)).hexdigest()[:12]}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise SignerError(Code.CONFIG_INVALID, f"{folder} is not private to this user",
                          vi=f"{folder} không chỉ riêng người dùng này truy cập được")
    return folder / SOCKET
