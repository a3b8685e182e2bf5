"""The configured ports (http and https): free, held by this user's daemon, or by another program
(the official VGCA Sign Service, which uses the same https port, is named: both cannot listen)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from ..instance import LOCK
from ..security.holders import port_holder
from .machine import Machine
from .result import CheckResult, Finding, Fix, combine

NAME = "ports"
OFFICIAL = "vgca"  # in the official service's program name

OTHER = Fix("dừng chương trình đang giữ cổng, hoặc đổi [server] port / tls_port trong tệp cấu hình",
            "stop the program holding the port, or change [server] port / tls_port in the configuration")
THE_OFFICIAL = Fix("dừng dịch vụ VGCA Sign Service chính thức (hai chương trình không thể cùng nghe một cổng)",
                   "stop the official VGCA Sign Service (both cannot listen on the same port)")


def check_ports(machine: Machine) -> CheckResult:
    server = machine.settings.server
    ours = _daemon_pid(server.state_dir)
    found = [_finding(port, ours) for port in dict.fromkeys((server.port, server.tls_port))]
    return combine(NAME, found, none=Finding("pass", "no port configured"))


def _finding(port: int, ours: int | None) -> Finding:
    refused = _bind_error(port)
    if refused is None:
        return Finding("pass", f"{port} free")
    if refused.errno != errno.EADDRINUSE:
        return Finding("fail", f"{port} cannot be listened on: {refused.strerror}", OTHER)
    holder = port_holder(port)
    if holder is None:
        return Finding("fail", f"{port} taken by a program this user cannot see", OTHER)
    if holder.pid == ours:
        return Finding("pass", f"{port} held by this user's signer serve (pid {holder.pid})")
    if OFFICIAL in (holder.command or "").lower():
        return Finding("warn", f"{port} held by the official service {holder}", THE_OFFICIAL)
    return Finding("fail", f"{port} taken by {holder}", OTHER)


def _bind_error(port: int) -> OSError | None:
    """Why a listener could not bind the port now, if it could not (the probe is closed at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name == "posix":  # as the daemon binds: a closed connection's TIME_WAIT does not count
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc
    return None


def _daemon_pid(state_dir: Path) -> int | None:
    """The pid the running daemon wrote in its lock file (see ``signer.instance``)."""
    try:
        text = (state_dir / LOCK).read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
