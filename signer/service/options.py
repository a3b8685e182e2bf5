"""The options of a PDF signature, as every edge receives them."""

from __future__ import annotations

from ..engine.options import PdfSignOptions, PlacementRequest

__all__ = ["PdfSignOptions", "PlacementRequest"]
