"""Page geometry: display space (the page as shown, after /Rotate) against user space (as stored),
and the placement rules that work in display space.

Expected numbers come from turning a sheet by hand: /Rotate 90 turns the page clockwise, so its
bottom edge becomes the left edge on screen and its top edge the right one; /Rotate 270 the
other way round.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter

from policies.profiles import Placement, load_profile
from signer.engine.freespace import Fit, free_corner
from signer.engine.pagespace import PageSpace, rotation
from signer.engine.pagetext import normalized
from signer.engine.placement import (
    PlacementRequest,
    Spot,
    below,
    page_index,
    page_refs,
    page_space,
    place,
    seal_over,
)
from signer.errors import SignerError

# A portrait page 600 wide and 800 high whose media box does not start at the origin.
MEDIA = (10.0, 20.0, 610.0, 820.0)
CORNER_BLOCK = (0, 0, 100, 50)  # 100 wide, 50 high, at the bottom-left corner of the screen


@pytest.mark.parametrize(("rotate", "size", "user"), [
    (0, (600, 800), (10, 20, 110, 70)),  # the media box's bottom-left; no turn
    (90, (800, 600), (560, 20, 610, 120)),  # the page's bottom-right corner; width runs up the page
    (180, (600, 800), (510, 770, 610, 820)),  # the page's top-right corner
    (270, (800, 600), (10, 720, 60, 820)),  # the page's top-left corner; width runs down the page
])
def test_a_block_at_the_screens_corner_in_user_space(rotate: int, size: tuple[int, int], user: tuple) -> None:
    space = PageSpace(media=MEDIA, rotate=rotate)
    assert space.size == size
    assert space.rect_to_user(CORNER_BLOCK) == user
    assert space.rect_to_display(user) == CORNER_BLOCK
    assert space.visible == (0, 0, *size)


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_points_go_there_and_back(rotate: int) -> None:
    space = PageSpace(media=MEDIA, rotate=rotate)
    for point in [(0, 0), (37.5, 412), (600, 0), (123, 45)]:
        assert space.to_display(space.to_user(point)) == pytest.approx(point)


@pytest.mark.parametrize(("rotate", "right", "up"), [
    (0, (1, 0), (0, 1)),
    (90, (0, 1), (-1, 0)),  # the screen's right is the page's up; the screen's up is the page's left
    (180, (-1, 0), (0, -1)),
    (270, (0, -1), (1, 0)),
])
def test_the_upright_matrix_maps_screen_directions_onto_the_page(rotate: int, right: tuple, up: tuple) -> None:
    space = PageSpace(media=MEDIA, rotate=rotate)
    a, b, c, d, e, f = space.upright_matrix  # (a, b) is where (1, 0) goes, (c, d) where (0, 1) goes
    assert (a, b) == right and (c, d) == up and (e, f) == (0, 0)
    origin, moved = space.to_user((0, 0)), space.to_user((1, 0))
    assert (moved[0] - origin[0], moved[1] - origin[1]) == right, "the same turn as the page's"


# A Letter page cropped by 10 on the left, 20 at the bottom, 12 on the right and 42 at the top.
LETTER = (0.0, 0.0, 612.0, 792.0)
CROP = (10.0, 20.0, 600.0, 750.0)


@pytest.mark.parametrize(("rotate", "visible"), [
    (0, (10, 20, 600, 750)),
    (90, (20, 12, 750, 602)),  # left margin from the bottom's 20, top margin from the left's 10
    (180, (12, 42, 602, 772)),
    (270, (42, 10, 772, 600)),  # left margin from the top's 42, bottom margin from the left's 10
])
def test_the_crop_box_seen_on_screen(rotate: int, visible: tuple) -> None:
    assert PageSpace(media=LETTER, rotate=rotate, crop=CROP).visible == visible


def test_a_crop_box_is_cut_to_the_media_box_and_measured_from_the_media_boxs_corner() -> None:
    assert PageSpace(media=LETTER, rotate=0, crop=(-50, 100, 700, 700)).visible == (0, 100, 612, 700)
    shifted = PageSpace(media=(100, 100, 712, 892), rotate=0, crop=(150, 150, 662, 842))
    assert shifted.visible == (50, 50, 562, 742)


@pytest.mark.parametrize(("value", "degrees"), [
    (90, 90), (-90, 270), (450, 90), (360, 0), (180.0, 180), ("270", 270), (45, 0), (None, 0), ("x", 0),
])
def test_rotate_values_as_viewers_read_them(value: object, degrees: int) -> None:
    assert rotation(value) == degrees


@pytest.mark.parametrize(("page", "count", "index"), [(1, 3, 0), (3, 3, 2), (-1, 3, 2), (-3, 3, 0)])
def test_page_numbers_from_the_start_and_from_the_end(page: int, count: int, index: int) -> None:
    assert page_index(page, count) == index


@pytest.mark.parametrize("page", [0, 4, -4])
def test_a_page_that_does_not_exist_is_refused(page: int) -> None:
    with pytest.raises(SignerError) as caught:
        page_index(page, 3)
    assert caught.value.code == "BAD_REQUEST"


def test_a_block_below_an_anchor_line_is_centred_under_it() -> None:
    # the line spans x 100..300 at y 500..512; the block hangs 2 points under its bottom
    assert below((100, 500, 300, 512), 190, 78, 2) == (105, 420, 295, 498)


def test_the_seal_covers_the_left_part_of_the_leaders_block() -> None:
    # a quarter of the way into a 200-wide block is x 350; the seal is centred on the block's middle, y 140
    assert seal_over((300, 100, 500, 180), 120, 120, 0.25) == (230, 80, 350, 200)


@pytest.mark.parametrize(("which", "box"), [
    ("top-right", (495, 695, 595, 745)),
    ("top-left", (15, 695, 115, 745)),
    ("bottom-right", (495, 25, 595, 75)),
    ("bottom-left", (15, 25, 115, 75)),
])
def test_corners_keep_the_margin_inside_the_visible_page(which: str, box: tuple) -> None:
    assert free_corner((10, 20, 600, 750), which, Fit(100, 50, 50), 5, ()) == box


def test_a_spots_size_is_in_whole_points() -> None:
    assert Spot(0, (0.4, 0, 190.6, 78.2)).size == (190, 78)


def test_text_is_compared_without_case_spacing_or_composition() -> None:
    decomposed = "  Ky\u0301   phe\u0302 duye\u0323\u0302t "
    assert normalized(decomposed) == normalized("KÝ PHÊ DUYỆT") == "ký phê duyệt"


def two_page_pdf() -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(io.BytesIO(two_page_bytes()))


def two_page_bytes() -> bytes:
    """Page 1 inherits a Letter media box and /Rotate 90 from the page tree; page 2 overrides
    the rotation and has a crop box written corner-first."""
    writer = PdfFileWriter()
    tree = writer.root["/Pages"]
    tree["/MediaBox"] = generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 612, 792))
    tree["/Rotate"] = generic.NumberObject(90)
    page = generic.NameObject("/Page")
    writer.insert_page(generic.DictionaryObject({generic.NameObject("/Type"): page}))
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): page, generic.NameObject("/Rotate"): generic.NumberObject(0),
        generic.NameObject("/CropBox"): generic.ArrayObject(generic.FloatObject(v) for v in (600, 750, 10, 20))}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_page_boxes_and_rotation_are_inherited_through_the_page_tree() -> None:
    writer = two_page_pdf()
    assert [page_space(ref) for ref in page_refs(writer)] == [PageSpace(media=LETTER, rotate=90),
                                           PageSpace(media=LETTER, rotate=0, crop=CROP)]


def test_a_corner_block_on_a_turned_cropped_page_lands_inside_the_crop_box() -> None:
    turned = PageSpace(media=LETTER, rotate=90, crop=CROP)
    screen = free_corner(turned.visible, "top-right", Fit(100, 50, 50), 5, ())
    assert screen == (645, 547, 745, 597)
    # on screen the top-right; on the stored page the top-left, 5 in from the crop box's left and top
    assert turned.rect_to_user(screen) == (15, 645, 65, 745)
    profile = replace(load_profile("plain"), width=100, height=50,
                      placement=Placement(mode="corner", corner="top-right", margin=5, page=-1))
    # through place(): page 2 has the same crop box but is not turned
    assert place(two_page_bytes(), two_page_pdf(), profile, PlacementRequest()) == Spot(1, (495, 695, 595, 745), "corner")


@pytest.mark.parametrize("rect", [(700, 100, 800, 150), (100, 100, 100.5, 150), (100, 100, float("nan"), 150)],
                         ids=["off-page", "too-thin", "not-finite"])
def test_a_requested_rectangle_must_be_on_the_page_and_not_empty(rect: tuple) -> None:
    with pytest.raises(SignerError) as caught:
        place(two_page_bytes(), two_page_pdf(), load_profile("plain"), PlacementRequest(page=2, rect=rect))
    assert caught.value.code == "BAD_REQUEST"


def test_a_requested_rectangle_is_ordered_and_rounded() -> None:
    request = PlacementRequest(page=-1, rect=(300.4, 200.6, 100.2, 100))
    assert place(two_page_bytes(), two_page_pdf(), load_profile("plain"), request) == Spot(1, (100, 100, 300, 201))
