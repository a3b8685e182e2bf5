"""Signature appearance profiles of Decree 30/2020: one data file per profile in profiles/.

IT staff adjust sizes, texts and anchors in the TOML files without code. Lines may
use the placeholders {signer}, {organisation}, {time}, {doc_number}, {issued_date},
{copy_form} and {comment}; the copy forms are listed in profiles/copy.toml.

A block placed by anchor goes below the last line of a title group: a title from the
profile's ``anchors`` (the titles offices sign under), alone or after one of its ``prefixes``
("KT.", "TL.", ...). A block shrinks to fit the free space, down to ``min_height`` and
``min_font_size``; when nothing is found, ``fallback`` says what happens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from .errors import PolicyError

IMAGES = ("signature", "seal", "none")
MODES = ("anchor", "seal", "corner", "rect")
CORNERS = ("top-right", "top-left", "bottom-right", "bottom-left")
FALLBACKS = ("free-corner", "refuse")  # free space at the bottom right of the last page, or ANCHOR_NOT_FOUND
MIN_MARGIN = 28.35  # 10 mm: a printer's unprintable margin stays clear of any corner block


@dataclass(frozen=True)
class Placement:
    mode: str
    anchors: tuple[str, ...] = ()  # titles, matched as a whole line (case, spacing and composition aside)
    prefixes: tuple[str, ...] = ()  # "KT.", "TL.", ...: a title line may start with one
    gap: float = 2.0
    overlap: float = 0.33
    corner: str = "top-right"
    page: int = 1  # counted from 1; negative from the end
    margin: float = MIN_MARGIN  # from the page's edge, for a corner block and the fallback
    over: str = ""  # mode "seal": the profile whose signature the seal overlaps (found by its title)
    fallback: str = "refuse"  # one of FALLBACKS: when no anchor is found and nobody is asked


@dataclass(frozen=True)
class Profile:
    name: str
    title: str  # written into the signature as its reason
    image: str
    lines: tuple[str, ...]
    font_size: float
    width: float
    height: float
    min_font_size: float  # the text is set no smaller than this to fit the free space
    min_height: float  # the block is made no lower than this to fit the free space
    border: bool
    fill_header: bool  # write the document number and date into the header's blanks
    prepare_header: bool  # make the header's blanks into empty fields, for the clerk to fill
    numbers_by_hand: bool  # with fill_header: the number may be left out (written on paper later)
    level: str  # the PAdES level signed by default: B-B, B-T, B-LT or B-LTA
    placement: Placement


LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def profile_names() -> list[str]:
    folder = resources.files(__package__).joinpath("profiles")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def _read(name: str) -> dict:
    import tomllib  # with the first profile read, not with the command line's choices

    if name not in profile_names():
        raise KeyError(name)
    try:
        return tomllib.loads(resources.files(__package__).joinpath("profiles", f"{name}.toml").read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:  # say which file: IT staff edit these by hand
        raise PolicyError(f"profile {name}: {exc}", f"mẫu chữ ký {name}: {exc}") from None


@cache
def copy_forms() -> tuple[str, ...]:
    """The copy forms the copy profile may show ("SAO Y", ...); the first is the default."""
    forms = tuple(str(form) for form in _read("copy").get("forms", []))
    if not forms:
        raise PolicyError("profile copy: forms must list at least one copy form",
                          "mẫu chữ ký copy: forms phải có ít nhất một hình thức bản sao")
    return forms


@cache  # read once per process: a changed profile applies from the next start
def load_profile(name: str) -> Profile:
    data = _read(name)
    placement = dict(data.get("placement", {}))
    profile = Profile(
        name=name,
        title=str(data["title"]),
        image=str(data.get("image", "none")),
        lines=tuple(str(line) for line in data.get("lines", [])),
        font_size=float(data.get("font_size", 10)),
        width=float(data["width"]),
        height=float(data["height"]),
        min_font_size=float(data.get("min_font_size", 6)),
        min_height=float(data.get("min_height", data["height"])),
        border=bool(data.get("border", False)),
        fill_header=bool(data.get("fill_header", False)),
        prepare_header=bool(data.get("prepare_header", False)),
        numbers_by_hand=bool(data.get("numbers_by_hand", False)),
        level=str(data.get("level", "B-B")),
        placement=Placement(
            mode=str(placement.get("mode", "rect")),
            anchors=tuple(str(a) for a in placement.get("anchors", [])),
            prefixes=tuple(str(p) for p in placement.get("prefixes", [])),
            gap=float(placement.get("gap", 2.0)),
            overlap=float(placement.get("overlap", 0.33)),
            corner=str(placement.get("corner", "top-right")),
            page=int(placement.get("page", 1)),
            margin=float(placement.get("margin", MIN_MARGIN)),
            over=str(placement.get("over", "")),
            fallback=str(placement.get("fallback", "refuse")),
        ),
    )
    if profile.level not in LEVELS:
        raise PolicyError(f"profile {name}: level must be one of {', '.join(LEVELS)}",
                          f"mẫu chữ ký {name}: level phải là một trong {', '.join(LEVELS)}")
    if profile.image not in IMAGES or profile.placement.mode not in MODES or profile.placement.corner not in CORNERS:
        raise PolicyError(f"profile {name}: image, placement mode or corner is not one of the known values",
                          f"mẫu chữ ký {name}: image, placement mode hoặc corner không phải giá trị đã biết")
    _check_sizes(profile)
    if profile.placement.mode == "seal":
        _check_over(name, profile.placement.over)
        if not profile.placement.anchors:  # the leader's titles find where the leader's block would be
            over = load_profile(profile.placement.over).placement
            profile = replace(profile, placement=replace(profile.placement, anchors=over.anchors,
                                                         prefixes=profile.placement.prefixes or over.prefixes))
    return profile


def _check_sizes(profile: Profile) -> None:
    rule = profile.placement
    if rule.fallback not in FALLBACKS:
        raise PolicyError(f"profile {profile.name}: placement fallback must be one of {', '.join(FALLBACKS)}",
                          f"mẫu chữ ký {profile.name}: placement fallback phải là một trong {', '.join(FALLBACKS)}")
    if (rule.mode == "corner" or rule.fallback == "free-corner") and rule.margin < MIN_MARGIN:
        raise PolicyError(f"profile {profile.name}: placement margin must be at least {MIN_MARGIN} points (10 mm), "
                          "clear of a printer's unprintable edge",
                          f"mẫu chữ ký {profile.name}: placement margin phải ít nhất {MIN_MARGIN} điểm (10 mm), "
                          "tránh phần mép giấy máy in không in được")
    if not 0 < profile.min_height <= profile.height or not 0 < profile.min_font_size <= profile.font_size:
        raise PolicyError(f"profile {profile.name}: min_height and min_font_size must be positive and no larger "
                          "than height and font_size",
                          f"mẫu chữ ký {profile.name}: min_height và min_font_size phải là số dương và không lớn "
                          "hơn height và font_size")


def _check_over(name: str, over: str) -> None:
    """A seal sits over another profile's signature block: ``over`` must name a profile that
    loads and is not itself a seal (which also rules out a loop of seals)."""
    if over not in profile_names() or _read(over).get("placement", {}).get("mode") == "seal":
        raise PolicyError(f"profile {name}: placement over must name a profile that is not a seal "
                          f"(known: {', '.join(profile_names())})",
                          f"mẫu chữ ký {name}: placement over phải là tên một mẫu chữ ký không phải con dấu "
                          f"(các mẫu đã có: {', '.join(profile_names())})")
    load_profile(over)
