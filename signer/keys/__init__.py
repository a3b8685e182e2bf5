"""The key layer: the only part of the signer that talks to ``drivers``.

``KeyStore`` finds tokens and certificates (and remote services' credentials) and hands out
``TokenKey``s (``RemoteKey``s), which the engine signs through (its ``SigningKey`` protocol).
Failures of the drivers become the signer's errors here, and the PIN types the dialogs need
are offered from here (``keys.pins``).
"""

from .catalogue import Connected, ConnectedDevice, DriverStatus, connected_devices, driver_statuses
from .remote import RemoteKey
from .store import CertificateEntry, Key, KeyStore
from .token import TokenKey

__all__ = [
    "CertificateEntry",
    "Connected",
    "ConnectedDevice",
    "DriverStatus",
    "Key",
    "KeyStore",
    "RemoteKey",
    "TokenKey",
    "connected_devices",
    "driver_statuses",
]
