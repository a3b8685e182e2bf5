"""``signer tls trust`` / ``signer tls untrust``: the local CA in the current user's browser stores."""

from __future__ import annotations

from pathlib import Path

from ..browsers.stores import trust_ca, untrust_ca
from ..tls import TlsFiles, ensure_local_tls


def trust(directory: Path) -> int:
    # The CA to trust is the one the daemon will serve with: made (or renewed) first if it must be.
    files: TlsFiles = ensure_local_tls(directory)
    for result in trust_ca(files.ca_cert, Path.home()):
        state = "đã thêm / added" if result.changed else "đã có / already trusted"
        print(f"CA cục bộ / Local CA -> {result.label} ({result.directory}): {state}")
    return 0


def untrust() -> int:
    results = untrust_ca(Path.home())
    for result in results:
        state = "đã gỡ / removed" if result.changed else "không có / not there"
        print(f"CA cục bộ / Local CA -> {result.label} ({result.directory}): {state}")
    if not results:
        print("Không có kho chứng thư nào của trình duyệt / No browser certificate store found")
    return 0
