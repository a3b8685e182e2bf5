"""Signing in to a remote signing service (CSC API): the access token sent as
``Authorization: Bearer`` with every call, obtained, kept and renewed here.

- ``client_credentials``: OAuth 2.0 client credentials grant (RFC 6749 § 4.4) at the service's
  ``oauth2/token`` (CSC API 1.0.4.0 § 8.3.3, 2.0.0.2 § 8.4.4), the client id and secret in the
  form.
- ``authorization_code``: OAuth 2.0 authorization code grant (RFC 6749 § 4.1) with PKCE S256
  (RFC 7636): the system browser opens ``oauth2/authorize`` (v1 § 8.3.2, v2 § 8.4.2), the
  service redirects to a one-shot listener on 127.0.0.1 (RFC 8252 § 7.3), whose ``state`` must
  be ours; the code is exchanged at ``oauth2/token``. Only the person can do this
  (``signer remote login``): when its tokens can no longer be renewed, LOGIN_REQUIRED.
- ``basic``: HTTP basic at ``auth/login`` (CSC API 1.0.4.0 and 2.0.0.2 § 11.2), ``rememberMe`` so
  that a refresh token comes back; renewed by ``auth/login`` with ``refresh_token``.

Tokens are renewed before they expire (``MARGIN_S``) with the refresh token (RFC 6749 § 6),
and once more when the service refuses one (HTTP 401); a client with its secret obtains a new
one when there is no refresh token or its refresh is refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from .csc import Endpoint
from .csc_http import RemoteError, RemoteErrorKind, field, post
from .csc_tokens import Tokens, TokenStore

AUTH_KINDS = ("none", "basic", "client_credentials", "authorization_code")
MARGIN_S = 30.0  # a token expiring sooner than this is renewed before it is used
DEFAULT_LIFETIME_S = 3600  # RFC 6749 leaves expires_in optional
LOGIN_WAIT_S = 300.0  # how long the browser sign-in may take

DONE_PAGE = ("<!doctype html><meta charset=utf-8><title>vn-token-signer</title>"
             "<p>Đã đăng nhập, có thể đóng cửa sổ này. / Signed in, you may close this window.</p>")
REFUSED_PAGE = ("<!doctype html><meta charset=utf-8><title>vn-token-signer</title>"
                "<p>Đăng nhập không thành công. / The sign-in failed.</p>")


@dataclass(frozen=True)
class AuthSettings:
    kind: str = "none"  # one of AUTH_KINDS
    service: str = ""  # the service's name: its tokens' key in the store
    oauth_url: str = ""  # where oauth2/authorize and oauth2/token are (default: the service's URL)
    client_id: str = ""
    username: str = ""  # basic
    scope: str = "service"  # the CSC scope asked for (v1 § 8.3.2, v2 § 8.4.2: "service" or "credential")
    store: TokenStore | None = None  # None: tokens kept in memory only


class Authenticator:
    """The bearer token of one service, for ``CscClient``; one renewal at a time."""

    def __init__(self, endpoint: Endpoint, settings: AuthSettings, secret: str | None = None) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self._secret = secret  # client secret or basic password, from its file; never logged
        self._tokens: Tokens | None = None
        self._sent: str | None = None  # the access token last handed out
        self._lock = asyncio.Lock()
        self.renewals = 0  # refreshes and new tokens obtained by this authenticator

    def __repr__(self) -> str:
        return f"Authenticator({self.settings.service!r}, {self.settings.kind!r})"

    def stored(self) -> Tokens | None:
        if self.settings.store is None:
            return self._tokens
        return self.settings.store.load(self.settings.service, self.endpoint.url)

    def forget(self) -> bool:
        self._tokens = None
        return self.settings.store.forget(self.settings.service) if self.settings.store else False

    async def bearer(self, session: aiohttp.ClientSession, *, renew: bool = False) -> str | None:
        """The access token to send (None: the service asks none); ``renew``: the last one
        was refused."""
        if self.settings.kind == "none":
            return None
        async with self._lock:
            tokens = self.stored()
            # a refused token may have been renewed meanwhile (another call, another process)
            if tokens is not None and tokens.fresh(MARGIN_S) and not (renew and tokens.access_token == self._sent):
                self._sent = tokens.access_token
                return tokens.access_token
            tokens = await self._renewed(session, tokens)
            self._keep(tokens)
            self._sent = tokens.access_token
            return tokens.access_token

    async def obtain(self, session: aiohttp.ClientSession) -> Tokens:
        """New tokens with the client's own secret (client credentials, basic), kept."""
        async with self._lock:
            tokens = await self._obtained(session)
            self._keep(tokens)
            return tokens

    async def browser_login(self, session: aiohttp.ClientSession, open_url: Callable[[str], object], *,
                            wait_s: float = LOGIN_WAIT_S) -> Tokens:
        """The authorization code flow with PKCE: ``open_url`` shows the service's sign-in page
        (it runs in a thread: ``webbrowser.open`` may wait for the browser); the tokens, kept."""
        verifier = secrets.token_urlsafe(64)
        challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
        state = secrets.token_urlsafe(24)
        answered: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

        async def callback(request: web.Request) -> web.Response:
            query = dict(request.query)
            if not answered.done():
                answered.set_result(query)
            good = query.get("state") == state and "code" in query
            return web.Response(text=DONE_PAGE if good else REFUSED_PAGE, content_type="text/html",
                                status=200 if good else 400)

        app = web.Application()
        app.router.add_get("/callback", callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            redirect = f"http://127.0.0.1:{port}/callback"
            opening = asyncio.create_task(asyncio.to_thread(open_url, self._authorize_url(redirect, challenge, state)))
            try:
                query = await asyncio.wait_for(answered, wait_s)
            except TimeoutError:
                raise RemoteError(f"no sign-in came back from the browser within {wait_s:g} s", reached=True,
                                  kind=RemoteErrorKind.LOGIN_REQUIRED) from None
        finally:
            await runner.cleanup()  # one answer only: the listener is gone before the code is used
        await opening
        if query.get("state") != state:
            raise RemoteError("the sign-in answer is not for this sign-in (state)", reached=True,
                              kind=RemoteErrorKind.REFUSED)
        if "code" not in query:
            raise RemoteError(f"sign-in refused: {query.get('error', '')} {query.get('error_description', '')}"
                              .strip(), reached=True, kind=RemoteErrorKind.LOGIN_REQUIRED)
        form = {"grant_type": "authorization_code", "code": query["code"], "client_id": self.settings.client_id,
                "redirect_uri": redirect, "code_verifier": verifier}
        async with self._lock:
            tokens = await self._token_grant(session, form)
            self._keep(tokens)
            return tokens

    def _authorize_url(self, redirect: str, challenge: str, state: str) -> str:
        query = {"response_type": "code", "client_id": self.settings.client_id, "redirect_uri": redirect,
                 "scope": self.settings.scope, "code_challenge": challenge, "code_challenge_method": "S256",
                 "state": state}
        return f"{self._oauth_url()}/oauth2/authorize?{urlencode(query)}"

    async def _renewed(self, session: aiohttp.ClientSession, tokens: Tokens | None) -> Tokens:
        if tokens is not None and tokens.refresh_token:
            try:
                return await self._refreshed(session, tokens.refresh_token)
            except RemoteError as exc:
                if not _refused(exc):
                    raise
                if self.settings.kind == "authorization_code":
                    self.forget()
                    raise RemoteError(f"{self.settings.service}: the sign-in expired and its renewal was refused "
                                      f"({exc.detail}): signer remote login {self.settings.service}",
                                      reached=True, status=exc.status, error=exc.error,
                                      kind=RemoteErrorKind.LOGIN_REQUIRED) from None
        if self.settings.kind == "authorization_code":
            raise RemoteError(f"{self.settings.service}: not signed in: signer remote login {self.settings.service}",
                              reached=True, kind=RemoteErrorKind.LOGIN_REQUIRED)
        return await self._obtained(session)

    async def _refreshed(self, session: aiohttp.ClientSession, refresh_token: str) -> Tokens:
        if self.settings.kind == "basic":
            answer = await post(session, self.endpoint.method_url("auth/login"), "auth/login",
                                json_body={"refresh_token": refresh_token, "rememberMe": True})
            return self._tokens_of(answer, refresh_token)
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.settings.client_id}
        return await self._token_grant(session, form, refresh_token)

    async def _obtained(self, session: aiohttp.ClientSession) -> Tokens:
        if self.settings.kind == "basic":
            login = base64.b64encode(f"{self.settings.username}:{self._secret or ''}".encode()).decode("ascii")
            answer = await post(session, self.endpoint.method_url("auth/login"), "auth/login",
                                json_body={"rememberMe": True}, headers={"Authorization": f"Basic {login}"})
            return self._tokens_of(answer, None)
        if self.settings.kind == "client_credentials":
            return await self._token_grant(session, {"grant_type": "client_credentials",
                                                     "client_id": self.settings.client_id,
                                                     "scope": self.settings.scope})
        raise RemoteError(f"{self.settings.service}: not signed in: signer remote login {self.settings.service}",
                          reached=True, kind=RemoteErrorKind.LOGIN_REQUIRED)

    async def _token_grant(self, session: aiohttp.ClientSession, form: dict[str, str],
                           refresh_token: str | None = None) -> Tokens:
        if self._secret is not None:
            form = {**form, "client_secret": self._secret}
        answer = await post(session, f"{self._oauth_url()}/oauth2/token", f"oauth2/token ({form['grant_type']})",
                            form=form)
        return self._tokens_of(answer, refresh_token)

    def _tokens_of(self, answer: dict[str, Any], previous_refresh: str | None) -> Tokens:
        self.renewals += 1
        lifetime = answer.get("expires_in", DEFAULT_LIFETIME_S)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float):
            raise RemoteError("the answer's expires_in is not a number", reached=True)
        refresh = answer.get("refresh_token")
        return Tokens(access_token=str(field(answer, "access_token", str)), expires_at=time.time() + float(lifetime),
                      refresh_token=str(refresh) if isinstance(refresh, str) and refresh else previous_refresh,
                      url=self.endpoint.url)

    def _keep(self, tokens: Tokens) -> None:
        self._tokens = tokens
        if self.settings.store is not None:
            self.settings.store.save(self.settings.service, tokens)

    def _oauth_url(self) -> str:
        return (self.settings.oauth_url or self.endpoint.url).rstrip("/")


def _refused(exc: RemoteError) -> bool:
    """A renewal the service refused (not one it could not answer, nor its own failure)."""
    return exc.reached and exc.status is not None and 400 <= exc.status < 500


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
