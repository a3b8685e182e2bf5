"""The companion's end of the channel to the daemon (see the daemon's ``signer.companion.channel``).

Where to connect and the secret are in the daemon's state folder: ``companion.json``
(``{"unix": path}`` or ``{"tcp": port}``) and ``companion.secret``, both readable by the
user only. Messages are JSON over one WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

Handler = Callable[[dict[str, Any]], Awaitable[None]]
REPLY_S = 30  # how long a request waits for its reply, unless it says otherwise


class ChannelError(Exception):
    """The daemon cannot be reached (not running, or another user's)."""


class DaemonRefused(ChannelError):
    """The daemon answered a request with an error: its code and message in both languages."""

    def __init__(self, code: str, message_en: str, message_vi: str) -> None:
        super().__init__(message_en or code)
        self.code = code
        self.message_en = message_en
        self.message_vi = message_vi


class DaemonChannel:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._replies: dict[str, asyncio.Future] = {}

    async def connect(self) -> None:
        try:
            address = json.loads((self.state_dir / "companion.json").read_text("utf-8"))
            secret = (self.state_dir / "companion.secret").read_text("utf-8").strip()
        except (OSError, ValueError) as exc:
            raise ChannelError(f"the signing daemon is not running ({exc})") from None
        if "unix" in address:
            connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=address["unix"])
            url = "http://companion/v1/channel"
        else:
            connector = aiohttp.TCPConnector()
            url = f"http://127.0.0.1:{int(address['tcp'])}/v1/channel"
        self._session = aiohttp.ClientSession(connector=connector)
        try:
            self._ws = await self._session.ws_connect(url, headers={"Authorization": f"Bearer {secret}"},
                                                      heartbeat=20)
        except (aiohttp.ClientError, OSError) as exc:
            await self.close()
            raise ChannelError(f"the signing daemon does not answer ({exc})") from None

    async def run(self, handle: Handler) -> None:
        """Read messages until the daemon goes away; replies go to their requests, the rest to ``handle``."""
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if data.get("type") == "reply":
                future = self._replies.pop(str(data.get("id")), None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                await handle(data)
        for future in self._replies.values():
            if not future.done():
                future.set_exception(ChannelError("the signing daemon stopped"))

    async def answer(self, prompt_id: str, **fields: Any) -> None:
        await self._send({"type": "answer", "id": prompt_id, **fields})

    async def cancel_batch(self, batch_id: str) -> None:
        await self._send({"type": "cancel_batch", "batch": batch_id})

    async def request(self, what: str, *, wait_s: float = REPLY_S, **fields: Any) -> Any:
        """A question for the daemon (status, activity, settings, revoke, enrolment); its data, or
        ChannelError (DaemonRefused: the daemon's answer was an error)."""
        request_id = secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        await self._send({"type": "request", "id": request_id, "what": what, **fields})
        reply = await asyncio.wait_for(future, wait_s)
        if "error" in reply:
            raise DaemonRefused(str(reply["error"]), str(reply.get("message_en") or ""),
                                str(reply.get("message_vi") or ""))
        return reply.get("data")

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _send(self, message: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            raise ChannelError("not connected to the signing daemon")
        await self._ws.send_json(message)
