"""Everything one running daemon holds: keys, policies, consent, limits, audit."""

from __future__ import annotations

import asyncio
import time

import structlog
from collections.abc import Iterable

from drivers.pins import PinSource
from policies.limits import Limits, load_limits
from policies.origins import OriginAllowlist, load_allowlist

from .api.caller import Caller
from .audit import AuditLog
from .batches.manager import BatchManager
from .config import Settings
from .errors import SignerError
from .companion.prompts import Prompts, PromptPinSource
from .companion.terminal import TerminalAsker
from .key_facts import KeyFacts
from .keys import KeyStore, SigningKey, pin_source_from
from .tls import tls_status
from .logs import configure_logging
from .security.auth import ApiToken
from .security.consent import ConsentBroker, ConsentStore
from .security.limits import PromptGuard, RateLimiter, TokenQueues


class Daemon:
    def __init__(self, settings: Settings, allow_origins: Iterable[str] = (), keys: KeyStore | None = None,
                 *, pins: PinSource | None = None, interactive: bool = False) -> None:
        """``pins``: where PINs come from (default: the development PINs when configured, else
        the official, asked through the companion, or the terminal when ``interactive``)."""
        self.settings = settings
        if not structlog.is_configured():  # never the default renderer: it prints frame locals
            configure_logging(settings.log_level)
        try:
            self.limits: Limits = load_limits(settings.limits)
            self.allowlist: OriginAllowlist = load_allowlist([*settings.server.allowed_origins, *allow_origins])
        except ValueError as exc:
            raise SignerError("CONFIG_INVALID", str(exc)) from None
        state = settings.server.state_dir
        self.audit = AuditLog(state / "audit.jsonl")
        self.consents = ConsentStore(state / "consents.json")
        self.key_facts = KeyFacts(state / "keys.json")
        self.prompts = Prompts(settings.consent.timeout_s, terminal=TerminalAsker() if interactive else None)
        self.consent = ConsentBroker(
            self.consents,
            settings.consent.pregranted if settings.development else (),
            self.prompts,
        )
        self.api_token = ApiToken(settings.server.api_token_file)
        self.rate = RateLimiter(self.limits.rate_per_second, self.limits.rate_burst)
        self.queues = TokenQueues(self.limits.queue_per_token)
        self.prompt_guard = PromptGuard()
        self.pin_prompts = PromptPinSource(self.prompts)
        if pins is None:
            pins = pin_source_from(settings) if settings.pin.source == "development" else self.pin_prompts
        self.keys = keys or KeyStore(settings, pins)
        self.batches = BatchManager(self)
        self.started = time.monotonic()
        self.ports: set[int] = set()

    async def signing_key(self, selector: str | None) -> SigningKey:
        return await asyncio.to_thread(self.keys.signing_key, selector)

    async def log_in(self, caller: Caller, key: SigningKey) -> None:
        """Make sure the token is logged in; a PIN prompt is one per origin at a time."""
        if await key.is_logged_in():
            return
        async with self.prompt_guard.prompt(caller.name):
            try:
                per_signature = await key.log_in()
            except SignerError as error:
                if error.code.startswith("PIN_"):
                    await self.prompts.pin_result(error)
                raise
            await self.prompts.pin_result(None)
            self.key_facts.remember(key.certificate.sha256.hex(), per_signature)

    def tls_status(self) -> dict:
        state = tls_status(self.settings.server.tls_dir)
        return {"present": state.present, "not_after": state.not_after.isoformat() if state.not_after else None,
                "days_left": state.days_left, "ca_fingerprint_sha256": state.ca_fingerprint_sha256,
                "needs_renewal": state.needs_renewal}

    def close(self) -> None:
        self.batches.pool.close()
        self.keys.close()
