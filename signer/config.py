"""Settings: read from a TOML file (``--config``, ``SIGNER_CONFIG`` or the user's config dir),
then the machine policy (``policies.machine``), whose keys win over the user's.

Relative paths in the file are taken relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs

from policies.errors import vietnamese
from policies.machine import MachinePolicy, load_machine_policy, machine_policy_path
from policies.origins import origin_list
from policies.revocation import RevocationPolicy, load_revocation_policy

from .errors import Code, SignerError

APP_NAME = "vn-token-signer"
CONFIG_ENV = "SIGNER_CONFIG"

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")

PinSourceName = Literal["terminal", "development"]


@dataclass(frozen=True)
class TokenSettings:
    modules: tuple[Path, ...] = ()  # tried first, before the catalogue
    use_catalog: bool = True
    default_certificate: str | None = None
    watch: tuple[str, ...] = ("pcsc", "usb", "pkcs11")  # the daemon's watchers of tokens coming and going
    poll_s: float = 2.0  # how often a slot list (and a reader list without PnP) is read
    wait_s: float = 120.0  # how long a signature waits for its token to be plugged in (someone asked)


@dataclass(frozen=True)
class PinSettings:
    source: PinSourceName = "terminal"
    development_pins: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TrustSettings:
    anchors: tuple[Path, ...] = ()
    intermediates: tuple[Path, ...] = ()


def _user_dir(kind: str) -> Path:
    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME))


@dataclass(frozen=True)
class ServerSettings:
    port: int = 8986  # http, native API
    tls_port: int = 8987  # https, native API and VGCA protocol
    allowed_origins: tuple[str, ...] = ()  # added to policies/origins.toml
    tls_dir: Path = field(default_factory=lambda: _user_dir("data") / "tls")
    state_dir: Path = field(default_factory=lambda: _user_dir("state"))  # audit log, consents
    api_token_file: Path = field(default_factory=lambda: _user_dir("config") / "api-token")
    # the desktop companion's channel: a Unix socket (POSIX), else loopback TCP with the secret
    companion_channel: str = "unix" if os.name == "posix" else "tcp"


@dataclass(frozen=True)
class ConsentSettings:
    pregranted: tuple[str, ...] = ()  # origins granted without asking; only with development = true
    timeout_s: float = 120.0  # how long a request waits for an answer before CONSENT_DENIED
    # origins whose signatures need no confirmation dialog (kiosks, automation); allowed in
    # production, so every such signature says "exempt" in its audit line
    unattended: tuple[str, ...] = ()


@dataclass(frozen=True)
class RevocationSettings:
    policy: RevocationPolicy = field(default_factory=load_revocation_policy)  # policies/revocation.toml + [revocation]
    cache_dir: Path = field(default_factory=lambda: _user_dir("cache") / "revocation")  # CRLs, their indexes, OCSP


@dataclass(frozen=True)
class TimestampSettings:
    url: str | None = None  # the RFC 3161 authority (levels B-T and above)


@dataclass(frozen=True)
class CertificateAppearance:
    """Per-certificate images and names IT staff configure for the visible blocks."""

    signature_image: Path | None = None  # the leader's blue handwritten signature, transparent PNG
    seal_image: Path | None = None  # the organisation's red seal, transparent PNG
    organisation: str | None = None  # shown as {organisation}; default: from the certificate


REMOTE_AUTH = ("none", "basic", "client_credentials", "authorization_code")
REMOTE_AUTH_KEYS = {  # what each way of signing in may be given
    "none": (),
    "basic": ("username", "secret_file"),
    "client_credentials": ("client_id", "secret_file", "scope", "oauth_url"),
    "authorization_code": ("client_id", "secret_file", "scope", "oauth_url"),
}
REMOTE_TOKENS_FILE = "remote-tokens.json"  # in the state folder: the services' access tokens, 0600


@dataclass(frozen=True)
class RemoteSettings:
    """A remote signing service (Cloud Signature Consortium API) whose credentials sign as tokens do."""

    name: str  # shown as the credentials' token, "csc:<name>", and in the audit line
    url: str  # the part before /csc/v1/ (or /csc/v2/)
    api_version: str = "v1"  # "v1" (1.0.4) or "v2" (2.0.0.x)
    auth: str = "none"  # one of REMOTE_AUTH: how the signer signs in to the service
    timeout_s: float = 30.0  # each call to the service
    client_id: str = ""  # OAuth 2.0 client id (client_credentials, authorization_code)
    secret_file: Path | None = None  # the client secret (OAuth 2.0) or password (basic), alone in a file
    username: str = ""  # basic
    scope: str = "service"
    oauth_url: str = ""  # where oauth2/authorize and oauth2/token are, when not at url
    token_file: Path | None = None  # where this user's tokens are kept (the state folder's)


@dataclass(frozen=True)
class Settings:
    path: Path | None = None
    development: bool = False
    tokens: TokenSettings = TokenSettings()
    pin: PinSettings = PinSettings()
    trust: TrustSettings = TrustSettings()
    revocation: RevocationSettings = field(default_factory=RevocationSettings)
    timestamp: TimestampSettings = TimestampSettings()
    server: ServerSettings = field(default_factory=ServerSettings)
    consent: ConsentSettings = ConsentSettings()
    limits: dict[str, float] = field(default_factory=dict)  # overrides of policies/limits.toml
    # VGCA profile -> certificate label or id, e.g. {"issued": "clerk"}; default certificate otherwise
    vgca_certificates: dict[str, str] = field(default_factory=dict)
    appearance: dict[str, CertificateAppearance] = field(default_factory=dict)  # by certificate label
    remote: tuple[RemoteSettings, ...] = ()  # [[remote]]: remote signing services
    log_level: str = "warning"
    policy: MachinePolicy | None = None  # the machine policy in force, if the computer has one


def config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config wins, then SIGNER_CONFIG, then the user's config file if it exists."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    default = Path(platformdirs.user_config_dir(APP_NAME)) / "signer.toml"
    return default if default.is_file() else None


def load_settings(explicit: str | os.PathLike[str] | None = None, policy_file: Path | None = None) -> Settings:
    """The user's settings under the machine policy (``policy_file``, default: this system's)."""
    try:
        policy = load_machine_policy(policy_file or machine_policy_path())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SignerError(Code.CONFIG_INVALID, str(exc),
                          vi=vietnamese(exc, "không đọc được tệp chính sách của máy")) from None
    path = config_path(explicit)
    raw = {} if path is None else _read(path)
    settings = Settings() if path is None else _parse(raw, path)
    return settings if policy is None else _with_policy(settings, raw, policy)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise SignerError(Code.CONFIG_INVALID, f"{path} does not exist", vi=f"không có tệp {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{path}: {exc}", vi=f"{path}: không đọc được tệp ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{path}: {exc}", vi=f"{path}: sai cú pháp TOML ({exc})") from None


def _with_policy(settings: Settings, raw: dict[str, Any], policy: MachinePolicy) -> Settings:
    """Each key the policy sets replaces the user's; origins outside the policy's list are dropped."""
    revocation = {k: v for k, v in raw.get("revocation", {}).items() if k != "cache_dir"} | policy.revocation
    timestamp = dict(raw.get("timestamp", {})) | policy.timestamp
    try:
        checking = load_revocation_policy(revocation, timestamp)
    except ValueError as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{policy.path}: {exc}",
                          vi=f"{policy.path}: {vietnamese(exc)}") from None
    tsa_url = timestamp.get("url")
    remote = settings.remote
    if policy.remote is not None:
        try:
            remote = _remotes(list(policy.remote), policy.path.parent, settings.server.state_dir)
        except (ValueError, TypeError, AttributeError) as exc:
            raise SignerError(Code.CONFIG_INVALID, f"{policy.path}: {exc}",
                              vi=f"{policy.path}: {vietnamese(exc, 'giá trị không hợp lệ')}") from None
    server, consent = settings.server, settings.consent
    if policy.origins is not None:
        server = replace(server, allowed_origins=policy.origins)
        consent = replace(consent, pregranted=tuple(o for o in consent.pregranted if policy.allows(o)),
                          unattended=tuple(o for o in consent.unattended if policy.allows(o)))
    trust = TrustSettings(
        anchors=settings.trust.anchors if policy.anchors is None else policy.anchors,
        intermediates=settings.trust.intermediates if policy.intermediates is None else policy.intermediates,
    )
    return replace(settings, policy=policy, trust=trust, server=server, consent=consent, remote=remote,
                   revocation=replace(settings.revocation, policy=checking),
                   timestamp=TimestampSettings(url=str(tsa_url) if tsa_url else None))


def _parse(raw: dict[str, Any], path: Path) -> Settings:
    base = path.parent
    try:
        tokens = raw.get("tokens", {})
        pin = raw.get("pin", {})
        trust = raw.get("trust", {})
        logging = raw.get("logging", {})
        server = raw.get("server", {})
        consent = raw.get("consent", {})
        limits = raw.get("limits", {})
        vgca = raw.get("vgca", {})
        looks = raw.get("appearance", {})
        revocation = dict(raw.get("revocation", {}))
        timestamp = dict(raw.get("timestamp", {}))
        _only(raw, {"development", "tokens", "pin", "trust", "revocation", "timestamp", "server", "consent",
                    "limits", "vgca", "appearance", "logging", "remote"}, "top level")
        cache_dir = revocation.pop("cache_dir", None)
        tsa_url = timestamp.get("url")
        for label, entry in looks.items():
            _only(entry, {"signature_image", "seal_image", "organisation"}, f"[appearance.{label}]")
        _only(vgca, {"certificates"}, "[vgca]")
        _only(server, {"port", "tls_port", "allowed_origins", "tls_dir", "state_dir", "api_token_file",
                       "companion_channel"},
              "[server]")
        _only(consent, {"pregranted", "timeout_s", "unattended"}, "[consent]")
        _only(tokens, {"modules", "use_catalog", "default_certificate", "watch", "poll_s", "wait_s"}, "[tokens]")
        _only(pin, {"source", "development"}, "[pin]")
        _only(trust, {"anchors", "intermediates"}, "[trust]")
        _only(logging, {"level"}, "[logging]")
        source = pin.get("source", "terminal")
        if source not in ("terminal", "development"):
            raise ValueError(f"[pin] source must be 'terminal' or 'development', not {source!r}")
        development = _bool(raw.get("development", False), "development")
        if source == "development" and not development:
            raise ValueError("[pin] source = 'development' is refused unless development = true")
        if consent.get("pregranted") and not development:
            raise ValueError("[consent] pregranted is refused unless development = true")
        defaults = ServerSettings()
        return Settings(
            path=path,
            development=development,
            tokens=TokenSettings(
                modules=_paths(tokens.get("modules", []), base),
                use_catalog=_bool(tokens.get("use_catalog", True), "[tokens] use_catalog"),
                default_certificate=tokens.get("default_certificate"),
                watch=_watchers(tokens.get("watch", list(TokenSettings.watch))),
                poll_s=_seconds(tokens.get("poll_s", TokenSettings.poll_s), "[tokens] poll_s", low=0.2),
                wait_s=_seconds(tokens.get("wait_s", TokenSettings.wait_s), "[tokens] wait_s", low=0.0),
            ),
            pin=PinSettings(source=source,
                            development_pins={str(k): str(v) for k, v in pin.get("development", {}).items()}),
            trust=TrustSettings(
                anchors=_paths(trust.get("anchors", []), base),
                intermediates=_paths(trust.get("intermediates", []), base),
            ),
            revocation=RevocationSettings(
                policy=load_revocation_policy(revocation, timestamp),
                cache_dir=_dir(cache_dir, base, RevocationSettings().cache_dir),
            ),
            timestamp=TimestampSettings(url=str(tsa_url) if tsa_url else None),
            server=ServerSettings(
                port=int(server.get("port", defaults.port)),
                tls_port=int(server.get("tls_port", defaults.tls_port)),
                allowed_origins=tuple(str(o) for o in server.get("allowed_origins", [])),
                tls_dir=_dir(server.get("tls_dir"), base, defaults.tls_dir),
                state_dir=_dir(server.get("state_dir"), base, defaults.state_dir),
                api_token_file=_dir(server.get("api_token_file"), base, defaults.api_token_file),
                companion_channel=_channel(server.get("companion_channel", defaults.companion_channel)),
            ),
            consent=ConsentSettings(
                pregranted=tuple(str(o) for o in consent.get("pregranted", [])),
                timeout_s=float(consent.get("timeout_s", 120.0)),
                unattended=origin_list(consent.get("unattended", []), "[consent] unattended"),
            ),
            limits={str(k): float(v) for k, v in limits.items()},
            vgca_certificates={str(k): str(v) for k, v in vgca.get("certificates", {}).items()},
            appearance={
                str(label): CertificateAppearance(
                    signature_image=_path(entry.get("signature_image"), base, None),
                    seal_image=_path(entry.get("seal_image"), base, None),
                    organisation=entry.get("organisation"),
                )
                for label, entry in looks.items()
            },
            log_level=str(logging.get("level", "warning")).lower(),
            remote=_remotes(raw.get("remote", []), base,
                            _dir(server.get("state_dir"), base, defaults.state_dir)),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{path}: {exc}",
                          vi=f"{path}: {vietnamese(exc, 'giá trị không hợp lệ')}") from None


def _only(section: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(section) - allowed
    if unknown:
        raise ValueError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")



def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _path(value: Any, base: Path, default: Path | None) -> Path | None:
    if value is None:
        return default
    return Path(os.path.normpath(base / Path(str(value)).expanduser()))


def _dir(value: Any, base: Path, default: Path) -> Path:
    """A path setting that always has a value (``default`` when not given)."""
    return _path(value, base, default) or default


def _paths(values: Any, base: Path) -> tuple[Path, ...]:
    if not isinstance(values, list):
        raise ValueError("expected a list of paths")
    # Not resolve(): a module path is often a symlink that IT staff chose on purpose.
    return tuple(Path(os.path.normpath(base / Path(v).expanduser())) for v in values)


def _watchers(value: Any) -> tuple[str, ...]:
    known = TokenSettings.watch
    if not isinstance(value, list) or any(v not in known for v in value):
        raise ValueError(f"[tokens] watch must be a list of {', '.join(repr(k) for k in known)}")
    return tuple(dict.fromkeys(value))


def _seconds(value: Any, name: str, *, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= 86400:
        raise ValueError(f"{name} must be a number of seconds from {low:g} to 86400")
    return float(value)


def _remotes(value: Any, base: Path, state_dir: Path) -> tuple[RemoteSettings, ...]:
    """[[remote]] tables: a name each (unique), an https URL (http only on loopback, for tests),
    what each way of signing in needs; relative paths from ``base``."""
    if not isinstance(value, list):
        raise ValueError("[[remote]] must be an array of tables")
    remotes = []
    for entry in value:
        if not isinstance(entry, dict):
            raise ValueError("[[remote]] must be an array of tables")
        _only(entry, {"name", "url", "api_version", "auth", "timeout_s", "client_id", "secret_file", "username",
                      "scope", "oauth_url"}, "[[remote]]")
        name, url = str(entry.get("name", "")), str(entry.get("url", ""))
        if not name or any(c in name for c in " /:"):
            raise ValueError(f"[[remote]] name must be a word without spaces, '/' or ':', not {name!r}")
        _service_url(url, f"[[remote]] {name}: url")
        oauth_url = str(entry.get("oauth_url", ""))
        if oauth_url:
            _service_url(oauth_url, f"[[remote]] {name}: oauth_url")
        api_version = entry.get("api_version", "v1")
        if api_version not in ("v1", "v2"):
            raise ValueError(f"[[remote]] {name}: api_version must be 'v1' or 'v2', not {api_version!r}")
        auth = entry.get("auth", "none")
        if auth not in REMOTE_AUTH:
            raise ValueError(f"[[remote]] {name}: auth must be one of {', '.join(map(repr, REMOTE_AUTH))}, "
                             f"not {auth!r}")
        needs = {"basic": ("username", "secret_file"), "client_credentials": ("client_id", "secret_file"),
                 "authorization_code": ("client_id",)}.get(auth, ())
        missing = [key for key in needs if not entry.get(key)]
        if missing:
            raise ValueError(f"[[remote]] {name}: auth = {auth!r} needs {' and '.join(missing)}")
        unused = sorted(set(entry) & set(REMOTE_AUTH_KEYS["authorization_code"] + REMOTE_AUTH_KEYS["basic"])
                        - set(REMOTE_AUTH_KEYS[auth]))
        if unused:
            raise ValueError(f"[[remote]] {name}: {', '.join(unused)} not used with auth = {auth!r}")
        secret_file = _path(entry.get("secret_file"), base, None)
        if secret_file is not None:
            secret_file_checked(secret_file, f"[[remote]] {name}: secret_file")
        timeout_s = _seconds(entry.get("timeout_s", RemoteSettings.timeout_s), f"[[remote]] {name} timeout_s", low=1.0)
        remotes.append(RemoteSettings(
            name=name, url=url.rstrip("/"), api_version=api_version, auth=auth, timeout_s=timeout_s,
            client_id=str(entry.get("client_id", "")), secret_file=secret_file,
            username=str(entry.get("username", "")), scope=str(entry.get("scope", "service")),
            oauth_url=oauth_url.rstrip("/"), token_file=state_dir / REMOTE_TOKENS_FILE))
    names = [r.name for r in remotes]
    if len(set(names)) != len(names):
        raise ValueError("[[remote]] names must differ")
    return tuple(remotes)


def _service_url(url: str, what: str) -> None:
    parsed = urlsplit(url)
    if not (parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in LOOPBACK_NAMES)):
        raise ValueError(f"{what} must be https:// (http:// only on loopback), not {url!r}")


def secret_file_checked(path: Path, what: str) -> Path:
    """A file holding a secret: it must exist, and no one but its owner (and group, for a
    machine-wide service) may read it, nor anyone but its owner write it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ValueError(f"{what} {path}: {exc.strerror or exc}") from None
    if os.name == "posix" and mode & 0o027:
        raise ValueError(f"{what} {path} can be read or changed by other users (chmod 600 it)")
    return path


def _channel(value: object) -> str:
    if value not in ("unix", "tcp") or (value == "unix" and os.name != "posix"):
        raise ValueError(f"[server] companion_channel must be 'unix' (POSIX only) or 'tcp', not {value!r}")
    return str(value)
