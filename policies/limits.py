"""The daemon's limits: packaged defaults (limits.toml) with configured overrides."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

from .errors import PolicyError

# Names an earlier version used, still accepted in a configuration's [limits]
RENAMED = {"batch_worker_idle_s": "document_worker_idle_s"}


@dataclass(frozen=True)
class Limits:
    max_body_mb: float
    rate_per_second: float
    rate_burst: float
    queue_per_token: int
    busy_retry_after_s: int
    request_timeout_s: float
    transfer_max_mb: float
    transfer_timeout_s: float
    ws_heartbeat_s: float
    vgca_timeout_s: float
    batch_max_files: int
    batch_max_mb: float
    parallel_transfers: int
    batch_workers: int
    consent_backoff_s: float
    consent_backoff_max_s: float
    audit_max_mb: float
    audit_keep_files: int
    login_idle_s: float
    verify_fetch_max_mb: float
    verify_fetch_requests: int
    verify_fetch_total_s: float
    output_retention_h: float
    retention_sweep_s: float
    anchor_search_pages: int
    decoded_max_mb: float
    decoded_max_ratio: float
    max_connections: int
    connections_per_peer: int
    fd_reserve: int
    request_head_timeout_s: float
    peer_rate_per_second: float
    peer_rate_burst: float
    refusal_window_s: float
    vgca_first_frame_s: float
    vgca_control_frames_per_s: float
    document_workers: int
    document_queue: int
    document_cpu_s: float
    document_memory_mb: float
    document_deadline_s: float
    document_worker_idle_s: float
    document_queue_per_caller: int

    @property
    def transfer_max_bytes(self) -> int:
        return int(self.transfer_max_mb * 1024 * 1024)

    @property
    def batch_max_bytes(self) -> int:
        return int(self.batch_max_mb * 1024 * 1024)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def output_retention_s(self) -> float:
        return self.output_retention_h * 3600

    @property
    def audit_max_bytes(self) -> int:
        return int(self.audit_max_mb * 1024 * 1024)

    @property
    def verify_fetch_max_bytes(self) -> int:
        return int(self.verify_fetch_max_mb * 1024 * 1024)

    @property
    def decoded_max_bytes(self) -> int:
        return int(self.decoded_max_mb * 1024 * 1024)


def load_limits(overrides: Mapping[str, float] | None = None) -> Limits:
    data = tomllib.loads(resources.files(__package__).joinpath("limits.toml").read_text("utf-8"))
    data.update({RENAMED.get(name, name): value for name, value in (overrides or {}).items()})
    known = {f.name: f.type for f in fields(Limits)}
    unknown = set(data) - set(known)
    if unknown:
        raise PolicyError(f"unknown limit(s): {', '.join(sorted(unknown))}",
                          f"giới hạn không xác định: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {name: (int(data[name]) if kind == "int" else float(data[name]))
                              for name, kind in known.items()}
    if any(v <= 0 for v in values.values()):
        raise PolicyError("limits must be positive", "các giới hạn phải là số dương")
    return Limits(**values)
