"""The key layer: the only part of the signer that talks to ``drivers``.

``KeyStore`` finds tokens and certificates and hands out ``TokenKey``s, which the engine
signs through (its ``SigningKey`` protocol). Failures of the drivers become the signer's
errors here, and the PIN types the dialogs need are offered from here (``keys.pins``).
"""

from .catalogue import Connected, ConnectedDevice, DriverStatus, connected_devices, driver_statuses
from .store import CertificateEntry, KeyStore
from .token import TokenKey

__all__ = [
    "CertificateEntry",
    "Connected",
    "ConnectedDevice",
    "DriverStatus",
    "KeyStore",
    "TokenKey",
    "connected_devices",
    "driver_statuses",
]
