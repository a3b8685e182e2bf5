"""The configuration and the machine policy as read, and the trust anchors they name."""

from __future__ import annotations

from policies.machine import machine_policy_path

from ..certificates import Trust
from ..errors import SignerError
from .machine import Machine
from .result import CheckResult, Finding, Fix, combine

NAME = "config"


def check_config(machine: Machine) -> CheckResult:
    settings = machine.settings
    found = [Finding("pass", f"configuration {settings.path}" + (" (development)" if settings.development else "")
                     if settings.path else "no configuration file: defaults")]
    policy = settings.policy
    found.append(Finding("pass", f"machine policy {policy.path}" if policy
                         else f"no machine policy ({machine_policy_path()})"))
    found.append(_anchors(machine))
    return combine(NAME, found, none=found[0])


def _anchors(machine: Machine) -> Finding:
    trust = machine.settings.trust
    if not trust.anchors:
        return Finding("fail", "no trust anchors configured", Fix(
            "thêm chứng thư gốc của CA vào [trust] anchors trong tệp cấu hình",
            "add the CA's root certificate to [trust] anchors in the configuration"))
    try:
        loaded = Trust.load(trust.anchors, trust.intermediates)
    except SignerError as error:
        return Finding("fail", error.detail or error.message_en, Fix(
            "sửa đường dẫn chứng thư trong [trust] của tệp cấu hình",
            "correct the certificate paths in [trust] of the configuration"))
    return Finding("pass", f"{len(loaded.anchors)} trust anchor(s), {len(loaded.intermediates)} intermediate(s)")
