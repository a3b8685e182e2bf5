"""Watchers: tokens arriving and leaving, seen over PC/SC, USB and PKCS#11.

Each watcher is optional (its library may be missing, its service not running)
and runs on its own thread; ``EventStream`` merges what they see into one
debounced stream of ``TokenEvent``s. Threads, not an event loop: the daemon
bridges the stream into its loop.
"""

from .events import EventStream, Observation, TokenEvent, Watcher

__all__ = ["EventStream", "Observation", "TokenEvent", "Watcher"]
