"""The options of a PDF signature, described once in ``SPECS``: the command line's flags, the
native API's query and form fields, their OpenAPI schema, the VGCA frame's fields and the
options a batch accepts are all derived from it.

Light to import (no PDF stack): every edge reads it at start-up.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

from policies.profiles import LEVELS, copy_forms, profile_names

from ..dates import parse_issued_date
from ..engine.options import PdfSignOptions, PlacementRequest
from ..engine.pagespace import Rect
from ..errors import Code, SignerError

__all__ = ["SPECS", "OptionSpec", "PdfSignOptions", "PlacementRequest", "add_arguments", "from_arguments",
           "from_fields", "from_vgca", "names", "openapi_parameters", "openapi_properties"]

# Where an option is taken: a PDF signature (CLI ``sign``, POST /v1/sign/pdf), ``signer preview``,
# a batch (CLI ``sign-batch``, POST /v1/batches), a CMS signature (POST /v1/sign/cms).
Which = Literal["pdf", "preview", "batch", "cms"]
KEY: frozenset[Which] = frozenset({"pdf", "batch", "cms"})
SIGNATURE: frozenset[Which] = frozenset({"pdf"})
BLOCK: frozenset[Which] = frozenset({"pdf", "preview"})
BLOCK_AND_BATCH: frozenset[Which] = frozenset({"pdf", "preview", "batch"})

CERT = "cert"  # the one option that is not part of PdfSignOptions: which key signs
NOT_NUMBERS = "page must be a number and rect four numbers x1,y1,x2,y2"
NOT_FOUR = "rect must be four numbers x1,y1,x2,y2"
NOT_NUMBERS_VI = "page phải là một số và rect phải là bốn số x1,y1,x2,y2"
NOT_FOUR_VI = "rect phải là bốn số x1,y1,x2,y2"
RECT_PATTERN = r"^[-0-9.]+(,[-0-9.]+){3}$"


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    RECTANGLE = "rectangle"  # x1,y1,x2,y2 in points
    CHOICE = "choice"
    DATE = "date"  # a day in any form ``signer.dates`` reads; the engine is given YYYY-MM-DD


@dataclass(frozen=True)
class OptionSpec:
    name: str  # the API's query and form field; the flag is derived from it
    kind: Kind
    help: str  # the command line's help and the OpenAPI description
    absent: str = ""  # what leaving it out means, shown as "(default: ...)"; else the default value
    choices: Callable[[], Sequence[str]] = tuple  # of a choice; asked when needed: profiles are data files
    metavar: str | None = None
    schema: Mapping[str, Any] = field(default_factory=dict)  # OpenAPI bits beyond the kind's own
    vgca: tuple[str, ...] = ()  # the VGCA frame's fields carrying it, the first one given wins
    used_by: frozenset[Which] = BLOCK
    help_vi: str = ""  # the command line's help in Vietnamese
    absent_vi: str = ""  # ``absent`` in Vietnamese

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def default(self) -> Any:
        """The signature options' own default: stated once, in ``PdfSignOptions``."""
        return default_of(self.name)

    def described(self, required: bool = False) -> str:
        shown = self.absent or (self.default if self.default not in (None, "") else "")
        return f"{self.help} (default: {shown})" if shown and not required else self.help

    def described_vi(self, required: bool = False) -> str:
        shown = self.absent_vi or (self.default if self.default not in (None, "") else "")
        return f"{self.help_vi} (mặc định: {shown})" if shown and not required else self.help_vi


SPECS: tuple[OptionSpec, ...] = (
    OptionSpec(CERT, Kind.TEXT, "certificate label or id", absent="the configured one", metavar="LABEL|ID",
               used_by=KEY, help_vi="nhãn hoặc mã định danh của chứng thư số", absent_vi="chứng thư số đã cấu hình"),
    OptionSpec("reason", Kind.TEXT, "reason shown in the signature", absent="the profile's title", used_by=SIGNATURE,
               help_vi="lý do ghi trong chữ ký", absent_vi="tiêu đề của mẫu chữ ký"),
    OptionSpec("location", Kind.TEXT, "location shown in the signature", used_by=SIGNATURE,
               help_vi="địa điểm ghi trong chữ ký"),
    OptionSpec("profile", Kind.CHOICE, "Decree 30 signature block", absent="an invisible signature",
               choices=profile_names, used_by=BLOCK_AND_BATCH, help_vi="khối chữ ký theo Nghị định 30",
               absent_vi="chữ ký không hiển thị"),
    OptionSpec("anchor", Kind.TEXT, "place the block below this text", metavar="TEXT",
               help_vi="đặt khối chữ ký dưới dòng chữ này"),
    OptionSpec("page", Kind.INTEGER, "page for rect, from 1 (negative: from the end)",
               help_vi="trang đặt khung --rect, đánh số từ 1 (số âm: tính từ trang cuối)"),
    OptionSpec("rect", Kind.RECTANGLE, "block rectangle x1,y1,x2,y2 in points", metavar="X1,Y1,X2,Y2",
               help_vi="khung khối chữ ký x1,y1,x2,y2 tính bằng điểm"),
    OptionSpec("doc_number", Kind.TEXT, "document number (Số: ...)", vgca=("DocNumber",),
               help_vi="số văn bản (Số: ...)"),
    OptionSpec("issued_date", Kind.DATE, "issuing date: YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY or an ISO 8601 "
               "timestamp with Z or an offset (its date in Hà Nội)", metavar="DATE", vgca=("IssuedDate",),
               help_vi="ngày ban hành: YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY hoặc thời điểm ISO 8601 có Z hoặc độ "
                       "lệch múi giờ (lấy ngày theo giờ Hà Nội)"),
    OptionSpec("copy_form", Kind.CHOICE, "form of the copy, for profile copy", choices=copy_forms,
               vgca=("CopyForm", "CopyType"),  # pages name the field either way
               help_vi="hình thức bản sao, cho mẫu copy"),
    OptionSpec("comment", Kind.TEXT, "comment text (profile comment)", vgca=("Comment", "Content"),
               help_vi="nội dung ý kiến (mẫu comment)"),
    OptionSpec("level", Kind.CHOICE, "PAdES level", absent="the profile's, B-B without a profile",
               choices=lambda: LEVELS, used_by=BLOCK_AND_BATCH, help_vi="mức PAdES",
               absent_vi="mức của mẫu chữ ký, B-B nếu không có mẫu"),
)

PLACEMENT = frozenset(f.name for f in fields(PlacementRequest))
DATES = frozenset(spec.name for spec in SPECS if spec.kind is Kind.DATE)


def default_of(name: str) -> Any:
    """The default of an option, as ``PdfSignOptions`` and ``PlacementRequest`` have it (read
    when asked: the copy form's comes from the policy files)."""
    for f in (*fields(PdfSignOptions), *fields(PlacementRequest)):
        if f.name == name:
            return f.default_factory() if f.default_factory is not MISSING else (
                None if f.default is MISSING else f.default)
    return None


def selected(which: Which) -> tuple[OptionSpec, ...]:
    return tuple(spec for spec in SPECS if which in spec.used_by)


def names(which: Which) -> tuple[str, ...]:
    return tuple(spec.name for spec in selected(which))


# -- the command line --

def add_arguments(parser: argparse.ArgumentParser, which: Which, *, required: Collection[str] = ()) -> None:
    for spec in selected(which):
        needed = spec.name in required
        extra: dict[str, Any] = {"metavar": spec.metavar} if spec.metavar else {}
        if spec.kind is Kind.CHOICE:
            extra["choices"] = spec.choices()
        elif spec.kind is Kind.INTEGER:
            extra["type"] = int
        elif spec.kind is Kind.RECTANGLE:
            extra["type"] = _rect_argument
        parser.add_argument(spec.flag, required=needed, default=spec.default,
                            help=f"{spec.described(needed)} / {spec.described_vi(needed)}", **extra)


def from_arguments(namespace: argparse.Namespace, which: Which = "pdf") -> tuple[PdfSignOptions, str | None]:
    """The options ``add_arguments(parser, which)`` parsed, and the certificate asked for."""
    return _built({spec.name: getattr(namespace, spec.name) for spec in selected(which)})


def _rect_argument(value: str) -> Rect:
    try:
        x1, y1, x2, y2 = _numbers(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected four numbers: x1,y1,x2,y2") from None
    return (x1, y1, x2, y2)


# -- the native API --

def from_fields(given: Mapping[str, str]) -> tuple[PdfSignOptions, str | None]:
    """The options of a query or form (an empty field is a missing one), and the certificate asked for.
    Other fields are left to the caller."""
    return _built({spec.name: _parsed(spec, given[spec.name]) for spec in SPECS if given.get(spec.name)})


def _parsed(spec: OptionSpec, value: str) -> Any:
    """Text is taken as given: the engine refuses an unknown profile or level with its own message."""
    if spec.kind not in (Kind.INTEGER, Kind.RECTANGLE):
        return value
    try:
        if spec.kind is Kind.INTEGER:
            return int(value)
        box = _numbers(value)
    except ValueError:
        raise SignerError(Code.BAD_REQUEST, NOT_NUMBERS, vi=NOT_NUMBERS_VI) from None
    if len(box) != 4:
        raise SignerError(Code.BAD_REQUEST, NOT_FOUR, vi=NOT_FOUR_VI)
    return box


def openapi_parameters(which: Which) -> list[dict[str, Any]]:
    return [{"name": spec.name, "in": "query", "required": False, "schema": _schema(spec),
             "description": spec.described()} for spec in selected(which)]


def openapi_properties(which: Which) -> dict[str, dict[str, Any]]:
    """The same options as fields of a multipart/form-data body."""
    return {spec.name: _schema(spec) for spec in selected(which)}


def _schema(spec: OptionSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if spec.kind is Kind.INTEGER else "string"}
    if spec.kind is Kind.CHOICE:
        schema["enum"] = list(spec.choices())
        if default_of(spec.name) is not None:
            schema["default"] = default_of(spec.name)
    if spec.kind is Kind.RECTANGLE:
        schema["pattern"] = RECT_PATTERN
    return {**schema, **spec.schema}


# -- the VGCA protocol --

def from_vgca(frame: Mapping[str, Any], profile: str) -> PdfSignOptions:
    """The options a VGCA document frame carries, for the path's profile (whose title is the
    reason). A choice is matched whatever its case; one not known is left at its default, as
    VGCA pages expect."""
    given: dict[str, Any] = {"profile": profile}
    for spec in SPECS:
        value = next((str(frame[name]) for name in spec.vgca if frame.get(name)), None)
        if value is not None and spec.kind is Kind.CHOICE:
            value = {choice.upper(): choice for choice in spec.choices()}.get(value.upper())
        if value is not None:
            given[spec.name] = value
    return _built(given)[0]


def _numbers(value: str) -> tuple[float, ...]:
    return tuple(float(v) for v in value.split(","))


def _built(given: Mapping[str, Any]) -> tuple[PdfSignOptions, str | None]:
    """Options left out keep the defaults of ``PdfSignOptions``; dates become YYYY-MM-DD here,
    the one place every edge's options pass."""
    values: dict[str, Any] = {k: parse_issued_date(str(v)).isoformat() if k in DATES and v else v
                              for k, v in given.items()}
    placement = PlacementRequest(**{k: v for k, v in values.items() if k in PLACEMENT})
    signature = {k: v for k, v in values.items() if k not in PLACEMENT and k != CERT}
    return PdfSignOptions(placement=placement, **signature), values.get(CERT)
