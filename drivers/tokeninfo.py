"""What a token and its objects look like to the rest of the program."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenFlags:
    login_required: bool
    protected_authentication_path: bool  # a pinpad: log in with no PIN from us
    pin_count_low: bool  # a wrong PIN was entered since the last good login
    pin_final_try: bool  # one more wrong PIN locks the token
    pin_locked: bool
    initialized: bool
    # The security officer's PIN (the one that unblocks the user PIN), counted apart:
    so_pin_count_low: bool = False
    so_pin_final_try: bool = False
    so_pin_locked: bool = False


@dataclass(frozen=True)
class TokenInfo:
    module: str  # module file path
    slot_id: int
    label: str
    serial: str
    manufacturer: str
    model: str
    flags: TokenFlags


@dataclass(frozen=True)
class CertificateObject:
    """An X.509 certificate stored on a token, with the CKA_ID that links it to its key."""

    token: TokenInfo
    label: str
    key_id: bytes
    der: bytes


@dataclass(frozen=True)
class KeyRef:
    """Which private key to use: the token (by serial) and the key's CKA_ID."""

    module: str
    token_serial: str
    key_id: bytes
    label: str
