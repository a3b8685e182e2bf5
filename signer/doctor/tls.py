"""The local HTTPS certificate pages reach the daemon with (``signer tls status``)."""

from __future__ import annotations

from ..errors import SignerError
from ..tls import tls_status
from .machine import Machine
from .result import CheckResult, Fix, result

NAME = "tls"

INIT = Fix("tạo lại chứng thư cục bộ: signer tls init --force, rồi signer tls trust",
           "make the local certificate anew: signer tls init --force, then signer tls trust")


def check_tls(machine: Machine) -> CheckResult:
    directory = machine.settings.server.tls_dir
    try:
        state = tls_status(directory)
    except SignerError as error:
        return result(NAME, "fail", f"{directory}: {error.detail}", INIT)
    if not state.present:
        # signer serve makes it at start; until then no page can use https
        return result(NAME, "warn", f"no local certificate in {directory} yet", Fix(
            "tạo chứng thư cục bộ: signer tls init, rồi signer tls trust",
            "create the local certificate: signer tls init, then signer tls trust"))
    if state.needs_renewal:
        return result(NAME, "warn", f"{directory}: due for renewal ({state.days_left} days left, or the files do "
                      "not belong together)", INIT)
    return result(NAME, "pass", f"{directory}: valid for {state.days_left} days")
