"""Asking the official: consent and PIN prompts, and the channel to the desktop companion."""
