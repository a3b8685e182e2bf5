"""File-descriptor headroom: the open-file limit raised as far as the system lets a user, and
the page-facing connections kept below it, so that a flood of connections cannot take the
descriptors health answers, the companion channel, the tokens and the audit log need."""

from __future__ import annotations

import sys

# macOS refuses a soft limit above OPEN_MAX whatever the hard limit says; elsewhere an
# unlimited hard limit is no number to set either
CEILING = 10240 if sys.platform == "darwin" else 1 << 20


def raise_open_files_limit() -> int | None:
    """Raise the soft open-file limit to the hard one (where allowed); the soft limit then, or
    None where the system has no such limit (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CEILING if hard == resource.RLIM_INFINITY else min(hard, CEILING)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return None if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft  # a sandbox may forbid it: the limit stays, the connections fit under it
    return wanted


def connection_cap(wanted: int, open_files: int | None, reserve: int) -> int:
    """At most ``wanted`` connections, and no more than the open-file limit less ``reserve``
    (at least a few, so that a tiny limit still serves someone)."""
    if open_files is None:
        return wanted
    return max(8, min(wanted, open_files - reserve))
