"""The composition root: the parts of one running daemon (or of one signing command),
made once from the settings and wired together; each part is handed only what it uses."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from policies.errors import vietnamese
from policies.limits import Limits, load_limits
from policies.origins import OriginAllowlist, load_allowlist

from .audit import AuditLog, Retention
from .certificates import Trust
from .config import Settings
from .engine import budget
from .errors import Code, SignerError
from .keys import KeyStore
from .keys.pins import PinSource, pin_source_from
from .keys.remote import Authoriser
from .keys.watch import TokenWatch
from .logs import configure_logging, is_configured
from .security.auth import ApiToken
from .security.peers import PeerGate
from .security.rate import RateLimiter
from .service.batches.journal import Journal
from .service.batches.manager import BatchManager
from .service.consent import Backoff, ConsentBroker, ConsentStore
from .service.documents.pool import DocumentPool
from .service.documents.worker import Budget
from .service.login_facts import LoginFacts
from .service.prompts import Asker, PlugInAsker, PromptPinSource, Prompts
from .service.queues import TokenQueues
from .service.signing import SigningService
from .service.trail import Refusals


@dataclass
class Signing:
    """What signing needs, for the daemon and for a command alike."""

    settings: Settings
    limits: Limits
    audit: AuditLog
    trust: Trust
    keys: KeyStore
    service: SigningService
    batches: BatchManager
    documents: DocumentPool
    watch: TokenWatch

    def close(self) -> None:
        self.documents.close()
        self.watch.close()
        self.keys.close()


def signing_parts(settings: Settings, pins: PinSource, prompts: Prompts, consent: ConsentBroker | None,
                  limits: Limits, authoriser: Authoriser | None) -> Signing:
    """``authoriser``: who types a remote credential's PIN and one-time code (None: nobody)."""
    state = settings.server.state_dir
    read = budget.ReadBudget.of(limits)
    budget.configure(read)  # what reading one document may cost, in this process (and its workers, below)
    audit = AuditLog(state / "audit.jsonl", Retention(limits.audit_max_bytes, limits.audit_keep_files))
    trust = Trust.load(settings.trust.anchors, settings.trust.intermediates)  # read once per run
    keys = KeyStore(settings, pins, trust, authoriser)
    watch = TokenWatch(keys, settings.tokens.watch, settings.tokens.poll_s)  # started by the daemon, or a first wait
    documents = DocumentPool(Budget(limits.document_cpu_s, limits.document_memory_mb, limits.document_deadline_s, read),
                             workers=limits.document_workers, batch_workers=limits.batch_workers,
                             queue=limits.document_queue, queue_per_caller=limits.document_queue_per_caller,
                             idle_s=limits.document_worker_idle_s)
    service = SigningService(settings, keys, trust, prompts=prompts, consent=consent,
                             queues=TokenQueues(limits.queue_per_token), login_facts=LoginFacts(state / "keys.json"),
                             login_idle_s=limits.login_idle_s, documents=documents, watch=watch)
    batches = BatchManager(service, Journal(state / "batches"), limits, audit, documents)
    return Signing(settings, limits, audit, trust, keys, service, batches, documents, watch)


def local_signing(settings: Settings, console: PlugInAsker | None = None,
                  authoriser: Authoriser | None = None) -> Signing:
    """For a command on this machine: PINs from the terminal (or the development PINs), no
    browser to ask consent of, the same audit trail and batch journal as the daemon;
    ``console`` tells the official to plug the token in (None: a missing token fails at once);
    ``authoriser`` asks a remote credential's PIN and one-time code (the command's terminal)."""
    limits = _limits(settings)
    return signing_parts(settings, pin_source_from(settings), Prompts(settings.consent.timeout_s, console=console),
                         None, limits, authoriser)


class Daemon:
    """The running daemon: the signing parts, plus what only a server needs (origins, the
    API token, rates, the peers' OS user, refusals counted, consent, the companion's prompts)."""

    def __init__(self, settings: Settings, allow_origins: Iterable[str] = (), *, pins: PinSource | None = None,
                 terminal: Asker | None = None, peers: PeerGate | None = None) -> None:
        """``pins``: where PINs come from (default: the development PINs when configured, else
        the official, asked through the companion, or ``terminal``); ``peers``: how a peer's OS
        user is found (default: what this system offers)."""
        if not is_configured():  # the settings' level, unless a command (or a test) set logging up
            configure_logging(settings.log_level)
        self.settings = settings
        self.limits = _limits(settings)
        try:
            self.allowlist: OriginAllowlist = load_allowlist([*settings.server.allowed_origins, *allow_origins],
                                                            only=settings.policy.origins if settings.policy else None)
        except ValueError as exc:
            raise SignerError(Code.CONFIG_INVALID, str(exc),
                              vi=vietnamese(exc, "lỗi trong danh sách trang web được phép")) from None
        self.consent_store = ConsentStore(settings.server.state_dir / "consents.json")
        self.prompts = Prompts(settings.consent.timeout_s, terminal=terminal)
        self.pin_prompts = PromptPinSource(self.prompts)
        consent = ConsentBroker(self.consent_store, settings.consent.pregranted if settings.development else (),
                                self.prompts, Backoff(self.limits.consent_backoff_s, self.limits.consent_backoff_max_s))
        if pins is None:
            pins = pin_source_from(settings) if settings.pin.source == "development" else self.pin_prompts
        # a remote credential's PIN and one-time code: the companion's dialog, or the terminal
        self.signing = signing_parts(settings, pins, self.prompts, consent, self.limits, self.prompts)
        self.api_token = ApiToken(settings.server.api_token_file)
        self.rate = RateLimiter(self.limits.rate_per_second, self.limits.rate_burst)
        self.peer_rate = RateLimiter(self.limits.peer_rate_per_second, self.limits.peer_rate_burst)
        self.refusals = Refusals(self.signing.audit, self.limits.refusal_window_s)
        self.peers = peers or PeerGate()
        self.started = time.monotonic()
        self.ports: set[int] = set()

    def close(self) -> None:
        self.signing.close()


def _limits(settings: Settings) -> Limits:
    try:
        return load_limits(settings.limits)
    except ValueError as exc:
        raise SignerError(Code.CONFIG_INVALID, str(exc),
                          vi=vietnamese(exc, "lỗi trong các giới hạn đã cấu hình")) from None
