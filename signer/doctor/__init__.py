"""``signer doctor``: one checklist of what the page-to-token path needs on this computer, each
line pass, warn or fail with its fix in Vietnamese and English. Read-only: nothing is written,
no PIN is asked, every network probe is bounded to a few seconds."""
