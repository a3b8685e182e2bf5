"""The signing engine: PDF (PAdES), CMS (CAdES) and raw digest signatures.

Each format keeps its three steps apart so batches can pipeline them:
prepare the document (CPU), sign a digest on the token (worker thread),
assemble and write the result (CPU).
"""
