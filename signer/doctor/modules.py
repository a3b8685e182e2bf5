"""PKCS#11 modules: the configured ones and the catalogue's found here, each loaded once. A module
that does not load is often built for another processor: the file's own header says which."""

from __future__ import annotations

import platform
import struct
from pathlib import Path

from ..keys.probe import CONFIGURED, ModuleProbe, probe_modules
from .machine import Machine
from .result import CheckResult, Finding, Fix, combine

NAME = "modules"

# ELF e_machine and PE Machine values, by the names platform.machine() uses
ELF_MACHINES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv64"}
PE_MACHINES = {0x14C: "i386", 0x1C4: "arm", 0x8664: "x86_64", 0xAA64: "aarch64"}
ALIASES = {"amd64": "x86_64", "arm64": "aarch64", "i686": "i386", "i586": "i386", "x86": "i386", "armv7l": "arm"}

MISSING = Fix("cài driver của token (gói của nhà cung cấp) hoặc sửa [tokens] modules trong tệp cấu hình",
              "install the token's driver (the vendor's package) or correct [tokens] modules in the configuration")
NOT_LOADING = Fix("cài bản driver đúng kiến trúc máy này (hoặc gỡ driver hỏng) rồi chạy lại signer doctor",
                  "install the driver built for this machine's architecture (or remove the broken one), then run "
                  "signer doctor again")


def check_modules(machine: Machine) -> CheckResult:
    found = [_finding(probe) for probe in probe_modules(machine.settings.tokens)]
    return combine(NAME, found, none=Finding("fail", "no PKCS#11 module configured or found", MISSING))


def _finding(probe: ModuleProbe) -> Finding:
    if not probe.present:
        return Finding("fail", f"configured module {probe.path} does not exist", MISSING)
    if probe.error is None:
        return Finding("pass", f"{probe.path} loads ({probe.source})")
    here, built = this_machine(), binary_machine(probe.path)
    why = f"built for {built}, this machine is {here}" if built and built != here else probe.error
    # a broken catalogue module is skipped by the daemon; a configured one stops it
    return Finding("fail" if probe.source == CONFIGURED else "warn", f"{probe.path} does not load: {why}",
                   NOT_LOADING)


def this_machine() -> str:
    name = platform.machine().lower()
    return ALIASES.get(name, name)


def binary_machine(path: Path) -> str | None:
    """The processor an ELF or PE file is built for, from its header; None when unknown."""
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return None
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        order = "<" if head[5] == 1 else ">"
        code = struct.unpack_from(order + "H", head, 18)[0]
        return ELF_MACHINES.get(code, f"ELF machine {code}")
    if head[:2] == b"MZ" and len(head) >= 0x40:
        offset = struct.unpack_from("<I", head, 0x3C)[0]
        if head[offset:offset + 4] == b"PE\0\0" and len(head) >= offset + 6:
            code = struct.unpack_from("<H", head, offset + 4)[0]
            return PE_MACHINES.get(code, f"PE machine {code:#x}")
    return None
