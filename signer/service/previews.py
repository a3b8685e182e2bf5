"""Where a signature block would go and how it looks, without a token."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..engine.options import Holder
from ..lazy import lazy_import
from .options import PdfSignOptions

if TYPE_CHECKING:
    from ..engine import appearance, preview
    from ..engine.placement import Spot
else:  # the document stack is imported when a preview is made
    appearance = lazy_import("signer.engine.appearance")
    preview = lazy_import("signer.engine.preview")


def preview_png(data: bytes, options: PdfSignOptions, *, signer: str, organisation: str, time: datetime
                ) -> tuple[bytes, Spot]:
    """The page with the block of ``options.profile`` on it, as a PNG, and where the block went;
    the block is placed as a signature by ``signer`` would be (above that printed name when no
    title is found)."""
    if options.placement.holder is None:
        options = replace(options, placement=replace(options.placement, holder=Holder(name=signer)))
    facts = appearance.BlockFacts(signer=signer, organisation=organisation, time=time, doc_number=options.doc_number,
                                  issued_date=options.issued_date, copy_form=options.copy_form,
                                  comment=options.comment)
    return preview.placed_preview(data, options, facts)
