"""One line of the checklist: what was looked at, what was found, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Status = Literal["pass", "warn", "fail"]
ORDER: dict[Status, int] = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Fix:
    vi: str
    en: str


NO_FIX = Fix("", "")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    found: str  # what was found, in plain words (paths, labels, counts)
    fix_vi: str = ""
    fix_en: str = ""


def result(name: str, status: Status, found: str, fix: Fix = NO_FIX) -> CheckResult:
    return CheckResult(name, status, found, "" if status == "pass" else fix.vi, "" if status == "pass" else fix.en)


def skipped(name: str, because: str) -> CheckResult:
    """A check that could not look because an earlier one failed: a warning, the earlier line says why."""
    return CheckResult(name, "warn", f"not checked: {because}",
                       "sửa mục phía trên trước", "fix the line above first")


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=ORDER.__getitem__, default="pass")


@dataclass(frozen=True)
class Finding:
    """One thing a check looked at (a module, a certificate, a port)."""

    status: Status
    text: str
    fix: Fix = NO_FIX


def combine(name: str, findings: list[Finding], *, none: Finding) -> CheckResult:
    """The check's line: its worst finding's status, every finding's text, the fixes of the worst ones."""
    if not findings:
        findings = [none]
    status = worst(f.status for f in findings)
    fixes = list(dict.fromkeys(f.fix for f in findings if f.status == status and f.fix != NO_FIX))
    return result(name, status, "; ".join(f.text for f in findings),
                  Fix(" ".join(f.vi for f in fixes), " ".join(f.en for f in fixes)))
