"""The native API under /v1: one module per resource, routes collected in ``routes``."""
