"""Putting a signature block where placement decided.

pyHanko sizes the block's appearance from the widget's rectangle and draws it in the
widget's coordinates. ``PlacedStyle`` wraps its stamp style so that afterwards the widget
gets its rectangle in the page's own coordinates and, on a rotated page, the appearance
a ``/Matrix`` that keeps it upright on the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from .pagespace import PageSpace, Rect


@dataclass(frozen=True)
class PlacedStyle:
    """A pyHanko stamp style, placed: ``box`` (display space) on a page of ``space``."""

    style: BaseStampStyle
    box: Rect
    space: PageSpace

    def create_stamp(self, writer: IncrementalPdfFileWriter, box: BoxConstraints, text_params: dict) -> _PlacedStamp:
        stamp = self.style.create_stamp(writer, box, text_params)
        if stamp is None:  # pyHanko's styles always make one; the base class may not
            raise ValueError("the stamp style made no stamp")
        return _PlacedStamp(self, stamp)


@dataclass
class _PlacedStamp:
    placed: PlacedStyle
    stamp: BaseStamp

    def apply_appearance(self, annot: generic.DictionaryObject) -> None:
        self.stamp.apply_appearance(annot)
        space = self.placed.space
        annot[generic.NameObject("/Rect")] = pdf_numbers(space.rect_to_user(self.placed.box))
        if space.rotate:
            annot["/AP"]["/N"].get_object()[generic.NameObject("/Matrix")] = pdf_numbers(space.upright_matrix)


def pdf_numbers(values) -> generic.ArrayObject:
    return generic.ArrayObject([generic.FloatObject(round(v, 4)) for v in values])
