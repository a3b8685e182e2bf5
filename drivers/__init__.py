"""Access to signing keys: PKCS#11 modules, the token catalogue, PIN sources.

This package imports nothing of the daemon; the daemon (``signer``) uses it.
"""
