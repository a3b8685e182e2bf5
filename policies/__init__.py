"""Decisions kept as data: allowed origins, signature profiles, trust and limits.

This package imports nothing of the daemon; the daemon reads its data files.
"""
