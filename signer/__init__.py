"""vn-token-signer: the local signing daemon for Vietnamese government USB tokens."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vn-token-signer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
