"""vn-token-signer: the local signing daemon for Vietnamese government USB tokens."""

from __future__ import annotations

from functools import cache


def __getattr__(name: str) -> str:
    # ``__version__`` is read from the installed metadata on first use: importlib.metadata costs
    # more than the whole of ``signer --help`` may
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vn-token-signer")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0+source"
