"""What a PDF signature is asked to be: plain data, light to import, shared by every edge
(through the service's description of the options) and the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from policies.profiles import copy_forms

from .pagespace import Rect


@dataclass(frozen=True)
class Holder:
    """What the signer's certificate says of its holder, for finding the block's place when the
    profile's titles are not on the page: the title line, then the printed name."""

    title: str = ""  # the subject's title attribute
    name: str = ""  # the subject's common name, printed under the block


@dataclass(frozen=True)
class PlacementRequest:
    page: int | None = None  # counted from 1, negative from the end
    rect: Rect | None = None
    anchor: str | None = None
    # False: nothing found is ANCHOR_NOT_FOUND (someone will be asked); True: the profile's fallback
    fallback: bool = True
    holder: Holder | None = None  # None: the certificate is not known yet (no title or name to look for)


@dataclass(frozen=True)
class PdfSignOptions:
    reason: str | None = None  # default: the profile's title
    location: str | None = None
    field_name: str | None = None  # None: a fresh, unused name
    profile: str | None = None  # a Decree 30 profile (policies/profiles); None: invisible signature
    placement: PlacementRequest = PlacementRequest()
    image: Path | None = None  # the certificate's signature or seal PNG, for profiles that show one
    organisation: str | None = None  # default: the certificate's organisation
    doc_number: str = ""
    issued_date: str = ""
    copy_form: str = field(default_factory=lambda: copy_forms()[0])
    comment: str = ""
    level: str | None = None  # B-B, B-T, B-LT or B-LTA; None: the profile's (B-B without one)
