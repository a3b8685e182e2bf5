"""What ``signer remote`` does: sign in to a ``[[remote]]`` service now, forget its tokens,
say whether this user is signed in and until when."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from drivers.csc import RemoteError
from drivers.csc_tokens import Tokens, TokenStore

from ..config import RemoteSettings
from ..errors import Code, SignerError
from .remote import remote_error
from .remote_auth import authenticator


@dataclass(frozen=True)
class SignInState:
    service: RemoteSettings
    tokens: Tokens | None  # None: not signed in (or the tokens were issued for another URL)


def sign_in_state(service: RemoteSettings) -> SignInState:
    if service.auth == "none" or service.token_file is None:
        return SignInState(service, None)
    return SignInState(service, TokenStore(service.token_file).load(service.name, service.url))


def sign_out(service: RemoteSettings) -> bool:
    """Forget the service's tokens here; whether there were any."""
    return service.token_file is not None and TokenStore(service.token_file).forget(service.name)


async def sign_in(service: RemoteSettings, open_url: Callable[[str], object]) -> Tokens:
    """Sign in now: in the browser (authorization code), else with the client's own secret."""
    auth = authenticator(service)
    if auth is None:
        raise SignerError(Code.BAD_REQUEST, f"{service.name} asks no sign-in (auth = \"none\")",
                          vi=f"{service.name} không cần đăng nhập (auth = \"none\")")
    timeout = aiohttp.ClientTimeout(total=service.timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
            if service.auth == "authorization_code":
                return await auth.browser_login(session, open_url)
            return await auth.obtain(session)
    except RemoteError as exc:
        raise remote_error(service.name, exc) from None
