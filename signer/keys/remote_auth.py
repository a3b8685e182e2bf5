"""How the signer signs in to each ``[[remote]]`` service: an ``Authenticator`` per call (its
tokens kept per user in the state folder's ``remote-tokens.json``, 0600), the client secret or
password read from its own file when needed.
"""

from __future__ import annotations

from drivers.csc import Endpoint
from drivers.csc_auth import Authenticator, AuthSettings
from drivers.csc_tokens import TokenStore

from ..config import RemoteSettings, secret_file_checked
from ..errors import Code, SignerError, os_reason_vi


def endpoint(service: RemoteSettings) -> Endpoint:
    return Endpoint(url=service.url, api_version=service.api_version, timeout_s=service.timeout_s)


def authenticator(service: RemoteSettings) -> Authenticator | None:
    """The service's sign-in (None when it asks none)."""
    if service.auth == "none":
        return None
    settings = AuthSettings(kind=service.auth, service=service.name, oauth_url=service.oauth_url,
                            client_id=service.client_id, username=service.username, scope=service.scope,
                            store=TokenStore(service.token_file) if service.token_file else None)
    return Authenticator(endpoint(service), settings, _secret(service))


def _secret(service: RemoteSettings) -> str | None:
    if service.secret_file is None:
        return None
    what = f"[[remote]] {service.name}: secret_file"
    try:
        secret_file_checked(service.secret_file, what)  # again: it may have changed since the settings were read
        return service.secret_file.read_text("utf-8").strip()
    except ValueError as exc:
        raise SignerError(Code.CONFIG_INVALID, str(exc), vi=f"{what} {service.secret_file}: người khác đọc hoặc "
                          "sửa được tệp, hoặc không có tệp (chmod 600)") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = os_reason_vi(exc) if isinstance(exc, OSError) else "không phải văn bản UTF-8"
        raise SignerError(Code.CONFIG_INVALID, f"{what} {service.secret_file}: {exc}",
                          vi=f"{what} {service.secret_file}: {reason}") from None
