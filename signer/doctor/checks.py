"""Every check in the order an official's problem is traced: configuration, drivers, token,
certificate, network, browser, daemon, files. A check that breaks is a failed line, never a
stopped checklist."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .browsers import POLICY, TRUST, check_browser_policy, check_browser_trust
from .certificates import NAME as CERTIFICATES
from .certificates import check_certificates
from .clock import NAME as CLOCK
from .clock import check_clock
from .companion import NAME as COMPANION
from .companion import check_companion
from .config import NAME as CONFIG
from .config import check_config
from .machine import Machine
from .modules import NAME as MODULES
from .modules import check_modules
from .pcsc import NAME as PCSC
from .pcsc import check_pcsc
from .ports import NAME as PORTS
from .ports import check_ports
from .result import CheckResult, Fix, result
from .revocation import NAME as REVOCATION
from .revocation import check_revocation
from .state import AUDIT, STATE, check_audit, check_state
from .tls import NAME as TLS
from .tls import check_tls
from .tokens import NAME as TOKENS
from .tokens import check_tokens

Check = Callable[[Machine], CheckResult]
NetworkCheck = Callable[[Machine], Awaitable[CheckResult]]

BEFORE: tuple[tuple[str, Check], ...] = ((CONFIG, check_config), (MODULES, check_modules), (PCSC, check_pcsc),
                                         (TOKENS, check_tokens))
# the checks that wait on the network, run side by side
NETWORK: tuple[tuple[str, NetworkCheck], ...] = ((CERTIFICATES, check_certificates), (REVOCATION, check_revocation),
                                                 (CLOCK, check_clock))
AFTER: tuple[tuple[str, Check], ...] = ((TLS, check_tls), (TRUST, check_browser_trust), (POLICY, check_browser_policy),
                                        (PORTS, check_ports), (COMPANION, check_companion), (STATE, check_state),
                                        (AUDIT, check_audit))
NAMES = tuple(name for name, _ in (*BEFORE, *NETWORK, *AFTER))

BROKEN = Fix("báo lỗi này cho nhóm phát triển (kèm dòng trên)", "report this to the developers (with the line above)")


def run_checks(machine: Machine) -> list[CheckResult]:
    found = [_guarded(name, check, machine) for name, check in BEFORE]
    machine.signing_keys()  # read here, not from the network checks' loop
    found += asyncio.run(_network(machine))
    found += [_guarded(name, check, machine) for name, check in AFTER]
    return found


async def _network(machine: Machine) -> list[CheckResult]:
    async def guarded(name: str, check: NetworkCheck) -> CheckResult:
        try:
            return await check(machine)
        except Exception as exc:  # noqa: BLE001  (one broken check must not hide the others)
            return _broken(name, exc)

    return list(await asyncio.gather(*(guarded(name, check) for name, check in NETWORK)))


def _guarded(name: str, check: Check, machine: Machine) -> CheckResult:
    try:
        return check(machine)
    except Exception as exc:  # noqa: BLE001  (one broken check must not hide the others)
        return _broken(name, exc)


def _broken(name: str, exc: Exception) -> CheckResult:
    return result(name, "fail", f"the check itself failed: {type(exc).__name__}: {exc}", BROKEN)
