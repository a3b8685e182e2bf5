"""Document workers: every document is read (parsed, placed, prepared for a signature, verified,
previewed) in a small pool of worker processes, each document under a CPU-time, memory and
wall-clock budget; the daemon's own process never parses one.

``pool`` is the daemon's side, ``worker`` the process's main loop and budgets, ``tasks`` the
work itself."""
