"""What every check looks at: the settings in force, the user's home (browser stores), the root
under which browser policy files are read, and the key store with the configured signing keys,
read once for all the token checks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ..certificates import Trust
from ..config import Settings
from ..errors import SignerError
from ..keys import Key, KeyStore


@dataclass
class Machine:
    settings: Settings
    home: Path
    policy_root: Path = Path("/")
    _keys: KeyStore | SignerError | None = field(default=None, repr=False)
    _signing: dict[str, Key | SignerError] | None = field(default=None, repr=False)

    def trust(self) -> Trust:
        """The configured anchors and intermediates; empty when they cannot be read (``config`` says why)."""
        try:
            return Trust.load(self.settings.trust.anchors, self.settings.trust.intermediates)
        except SignerError:
            return Trust()

    def keys(self) -> KeyStore | SignerError:
        """The key store, or why it could not be opened (no module loads); opened on first use."""
        if self._keys is None:
            try:
                self._keys = KeyStore(self.settings, trust=self.trust())
            except SignerError as error:
                self._keys = error
        return self._keys

    def signing_keys(self) -> dict[str, Key | SignerError]:
        """The key for each certificate the configuration signs with (``[tokens] default_certificate``
        and ``[vgca] certificates``), or why it is not there; every signing certificate on the tokens
        when none is named. Empty when the key store cannot be opened."""
        if self._signing is None:
            keys = self.keys()
            self._signing = {} if not isinstance(keys, KeyStore) else {
                selector: _key(keys, selector) for selector in self._selectors(keys)}
        return self._signing

    def _selectors(self, keys: KeyStore) -> list[str]:
        tokens = self.settings.tokens
        named = [s for s in (tokens.default_certificate, *self.settings.vgca_certificates.values()) if s]
        if named:
            return list(dict.fromkeys(named))
        try:
            return [entry.id for entry in asyncio.run(keys.certificates())]
        except SignerError:
            return []

    def close(self) -> None:
        if isinstance(self._keys, KeyStore):
            self._keys.close()


def _key(keys: KeyStore, selector: str) -> Key | SignerError:
    try:
        return asyncio.run(keys.signing_key(selector))
    except SignerError as error:
        return error
