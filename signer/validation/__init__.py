"""Certificate checks: before signing, and of signatures received."""
