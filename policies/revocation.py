"""Revocation checking and timestamping policy: data in ``revocation.toml``, adjusted per
deployment by the ``[revocation]`` and ``[timestamp]`` tables of the configuration."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from .errors import PolicyError, vietnamese

MODES = ("hard-fail", "soft-fail", "offline-grace")
REVOCATION_KEYS = {"policy", "offline_grace_hours", "timeout_s", "retries", "fetch_budget_s", "no_nonce", "rewrite",
                   "fetch_hosts"}
TIMESTAMP_KEYS = {"timeout_s", "retries"}


@dataclass(frozen=True)
class Rewrite:
    source: str  # URL prefix as found in certificates
    target: str  # what to ask instead


@dataclass(frozen=True)
class RevocationPolicy:
    mode: str = "hard-fail"
    offline_grace: timedelta = timedelta(hours=72)
    timeout_s: float = 20.0
    retries: int = 2
    # all the fetching of one check (a signing certificate's chain, or one signature being
    # verified): every OCSP and CRL request and retry together
    fetch_budget_s: float = 15.0
    no_nonce: tuple[str, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    # hosts verification may ask besides those the configured CAs name: "host" (ports 80
    # and 443) or "host:port", lower-case
    fetch_hosts: tuple[str, ...] = ()
    tsa_timeout_s: float = 150.0
    tsa_retries: int = 2

    def rewrite(self, url: str) -> str:
        for rule in self.rewrites:
            if url.startswith(rule.source):
                return rule.target + url[len(rule.source):]
        return url

    def wants_nonce(self, url: str) -> bool:
        return not any(url.startswith(prefix) for prefix in self.no_nonce)


def load_revocation_policy(revocation: Mapping[str, Any] | None = None,
                           timestamp: Mapping[str, Any] | None = None) -> RevocationPolicy:
    """The shipped defaults with a deployment's overrides; ValueError names a bad entry."""
    data = tomllib.loads(resources.files(__package__).joinpath("revocation.toml").read_text("utf-8"))
    defaults = _policy(data, data.get("timestamp", {}), RevocationPolicy())
    return _policy(dict(revocation or {}), dict(timestamp or {}), defaults, extend=True)


def _policy(revocation: dict, timestamp: dict, base: RevocationPolicy, extend: bool = False) -> RevocationPolicy:
    unknown = set(revocation) - REVOCATION_KEYS - {"timestamp"}
    unknown |= {f"timestamp.{k}" for k in set(timestamp) - TIMESTAMP_KEYS - {"url"}}
    if unknown:
        raise PolicyError(f"unknown revocation settings: {', '.join(sorted(unknown))}",
                          f"thiết lập kiểm tra thu hồi không xác định: {', '.join(sorted(unknown))}")
    mode = str(revocation.get("policy", base.mode))
    if mode not in MODES:
        raise PolicyError(f"revocation policy must be one of {', '.join(MODES)}, not {mode!r}",
                          f"chế độ kiểm tra thu hồi phải là một trong {', '.join(MODES)}, không phải {mode!r}")
    try:
        rewrites = tuple(Rewrite(str(r["from"]), str(r["to"])) for r in revocation.get("rewrite", []))
        policy = replace(
            base, mode=mode,
            offline_grace=timedelta(hours=float(revocation.get("offline_grace_hours",
                                                               base.offline_grace.total_seconds() / 3600))),
            timeout_s=float(revocation.get("timeout_s", base.timeout_s)),
            retries=int(revocation.get("retries", base.retries)),
            fetch_budget_s=float(revocation.get("fetch_budget_s", base.fetch_budget_s)),
            no_nonce=(base.no_nonce if extend else ()) + tuple(str(p) for p in revocation.get("no_nonce", [])),
            rewrites=rewrites + (base.rewrites if extend else ()),
            fetch_hosts=(base.fetch_hosts if extend else ()) + _hosts(revocation.get("fetch_hosts", [])),
            tsa_timeout_s=float(timestamp.get("timeout_s", base.tsa_timeout_s)),
            tsa_retries=int(timestamp.get("retries", base.tsa_retries)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"bad revocation setting: {exc}",
                          f"thiết lập kiểm tra thu hồi sai: {vietnamese(exc)}") from None
    if policy.timeout_s <= 0 or policy.tsa_timeout_s <= 0 or policy.fetch_budget_s <= 0 or policy.retries < 0 \
            or policy.tsa_retries < 0:
        raise PolicyError("revocation and timestamp timeouts must be positive, retries not negative",
                          "thời gian chờ kiểm tra thu hồi và dấu thời gian phải là số dương, số lần thử lại "
                          "không được âm")
    return policy


def _hosts(values: Any) -> tuple[str, ...]:
    """``fetch_hosts`` entries: a host name or address, with an optional port; nothing else."""
    if not isinstance(values, list):
        raise PolicyError("fetch_hosts must be a list of host names", "fetch_hosts phải là danh sách tên máy chủ")
    hosts = []
    for value in values:
        parts = urlsplit(f"//{value}") if isinstance(value, str) else None
        if parts is None or not parts.hostname or parts.path or parts.query or parts.fragment or parts.username \
                or parts.password or parts.port == 0:
            raise PolicyError(f"fetch_hosts: not a host or host:port: {value!r}",
                              f"fetch_hosts: không phải tên máy chủ hoặc máy chủ:cổng: {value!r}")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        hosts.append(host if parts.port is None else f"{host}:{parts.port}")
    return tuple(hosts)
