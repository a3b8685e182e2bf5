"""The desktop companion: tray icon and the consent, PIN and progress dialogs.

It talks to the daemon over a local channel only.
"""
