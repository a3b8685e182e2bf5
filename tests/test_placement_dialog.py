"""When nothing in a document places the signature block, the official places it: the
signature's dialog (real Chromium, real daemon, real channel, SoftHSM) shows the pages, the
official drags the block and signs, and the signature lies where it was dropped."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DevEnv, pdfsig
from daemon_harness import RunningDaemon
from playwright.sync_api import Page
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from test_tray_dialogs import (  # noqa: F401 (fixtures)
    LEADER_PIN,
    Companion,
    browser,
    page_server,
    show,
    wait_outcome,
)

from tray.bridge import DialogBridge

pytestmark = pytest.mark.browser

PAGES = 3
TARGET = (90.0, 320.0)  # where the test drops the block's lower left corner on page 2, in points
# the page sends the document itself, and asks for the JSON reply (it carries the placement)
SEND = """
async ([daemonUrl, path, encoded]) => {
  window.outcome = null;
  const body = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  fetch(daemonUrl + path, {method: 'POST', body,
                           headers: {'Content-Type': 'application/pdf', 'Accept': 'application/json'}})
    .then(async (reply) => { window.outcome = {status: reply.status, ...(await reply.json())}; })
    .catch((error) => { window.outcome = {error: String(error)}; });
}
"""


def no_anchor_document(pages: int = PAGES) -> bytes:
    """A plain report: no title line, no name, nothing a profile's anchor finds."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    for number in range(1, pages + 1):
        page.setFont("Helvetica", 12)
        page.drawString(72, 770, f"Report, page {number}")
        page.drawString(72, 740, "Figures for the quarter, without any signature line.")
        page.showPage()
    page.save()
    return out.getvalue()


@pytest.fixture
def companion(dev_env: DevEnv, page_server: str, tmp_path: Path) -> Iterator[Companion]:  # noqa: F811
    with Companion(dev_env, tmp_path, page_server) as running:
        running.running.daemon.consent_store.grant(page_server, ["sign"])  # "always allow", chosen earlier
        yield running


def ask(browser, page_server: str, companion: Companion, document: bytes,  # noqa: F811
        path: str = "/v1/sign/pdf?profile=approved") -> Page:
    page = browser.new_page()
    page.goto(f"{page_server}/libreoffice.pdf")
    page.evaluate(SEND, [companion.running.url, path, base64.b64encode(document).decode()])
    return page


def dialog_page(browser) -> Page:  # noqa: F811
    """Tall enough that the whole page and the block are on the screen (a window would scroll)."""
    return browser.new_page(viewport={"width": 760, "height": 1700})


def page_shown(dialog: Page, label: str) -> None:
    dialog.wait_for_function("(label) => document.getElementById('page-label').textContent === label "
                             "&& document.getElementById('page-image').complete "
                             "&& !document.getElementById('block').hidden", arg=label)


def drag_block_to(dialog: Page, corner: tuple[float, float]) -> None:
    """With the mouse, as the official would: grab the block and drop it so that its lower left
    corner lands on ``corner`` (points from the page's lower left)."""
    box = dialog.evaluate("placement.view.box")
    height = dialog.evaluate("placement.ask.block[1]")
    image = dialog.locator("#page-image").bounding_box()
    block = dialog.locator("#block").bounding_box()
    scale = image["width"] / (box[2] - box[0])
    grab_x, grab_y = block["width"] / 2, block["height"] / 2
    left = image["x"] + (corner[0] - box[0]) * scale
    top = image["y"] + (box[3] - corner[1] - height) * scale
    dialog.mouse.move(block["x"] + grab_x, block["y"] + grab_y)
    dialog.mouse.down()
    dialog.mouse.move(left + grab_x, top + grab_y, steps=12)
    dialog.mouse.up()


def type_pin_if_asked(browser, companion: Companion) -> None:  # noqa: F811
    if not any(f == "_login" for f in companion.running.token_functions):
        pin = show(browser.new_page(), companion.dialogs.next("pin"))
        pin.locator("#pin").fill(LEADER_PIN)
        pin.locator("#ok").click()


def widget(signed: bytes) -> tuple[int, tuple[float, ...]]:
    """The signature widget's page (from 1) and /Rect, in a document of ``PAGES`` pages."""
    return widget_on(signed, PAGES)


def widget_on(signed: bytes, count: int) -> tuple[int, tuple[float, ...]]:
    """The signature widget's page (from 1) and /Rect, in a document of ``count`` pages."""
    from pdf_checks import embedded_signatures
    from pyhanko.pdf_utils.reader import PdfFileReader

    field = embedded_signatures(signed)[0].sig_field
    reader = PdfFileReader(io.BytesIO(signed))
    pages = [reader.find_page_for_modification(i)[0].idnum for i in range(count)]
    return pages.index(field.raw_get("/P").idnum) + 1, tuple(float(v) for v in field["/Rect"])


def signature_lines(running: RunningDaemon, count: int) -> list[dict]:
    return [line for line in running.audit_settled(count) if line["operation"].startswith("POST /v1/sign/pdf")]


def test_the_official_drags_the_block_onto_page_2_and_the_signature_lies_there(
        browser, page_server: str, companion: Companion, tmp_path: Path) -> None:  # noqa: F811
    caller = ask(browser, page_server, companion, no_anchor_document())
    bridge: DialogBridge = companion.dialogs.next("consent")
    assert bridge.confirming and bridge.placing
    dialog = show(dialog_page(browser), bridge)
    page_shown(dialog, "Trang 3/3")  # the last page first
    assert dialog.locator("#next-page").is_disabled()
    assert dialog.locator("#placement-section .notice").inner_text().startswith("Không tìm thấy vị trí chữ ký")
    assert dialog.locator("#preview-section").is_hidden(), "no block preview: nothing placed it"
    dialog.locator("#prev-page").click()
    page_shown(dialog, "Trang 2/3")
    drag_block_to(dialog, TARGET)
    dialog.locator("#lang").click()
    assert dialog.locator("#page-label").inner_text() == "Page 2 of 3"
    answer = dialog.evaluate("placementAnswer()")
    assert answer["page"] == 2
    assert abs(answer["rect"][0] - TARGET[0]) < 2 and abs(answer["rect"][1] - TARGET[1]) < 2, answer
    dialog.locator("#once").click()
    type_pin_if_asked(browser, companion)

    outcome = wait_outcome(caller)
    assert outcome["status"] == 200, outcome
    expected = [round(v) for v in answer["rect"]]  # the engine places whole points
    assert outcome["placement"] == {"page": 2, "rect": expected, "placed_by": "official"}
    signed = base64.b64decode(outcome["pdf"])
    page, rect = widget(signed)
    assert page == 2 and [round(v) for v in rect] == expected
    (tmp_path / "signed.pdf").write_bytes(signed)
    assert "Signature is Valid." in pdfsig(tmp_path / "signed.pdf")
    [line] = signature_lines(companion.running, 1)
    assert (line["result"], line["confirmation"]) == ("OK", "confirmed")
    assert line["placement"] == {"page": 2, "rect": expected, "placed_by": "official"}


def test_on_a_sites_first_use_the_consent_dialog_is_where_the_block_is_placed(
        browser, page_server: str, dev_env: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    """No consent yet: the consent dialog itself carries the placement step, and allowing once
    signs where the block was dropped. With SIGNER_SCREENSHOTS=docs/images it refreshes the user's
    guide's picture of the step."""
    with Companion(dev_env, tmp_path, page_server) as companion:
        caller = ask(browser, page_server, companion, no_anchor_document())
        bridge: DialogBridge = companion.dialogs.next("consent")
        assert bridge.placing and not bridge.confirming, "the consent dialog, not a confirmation"
        dialog = show(dialog_page(browser), bridge)
        page_shown(dialog, "Trang 3/3")
        assert dialog.locator("#once").inner_text() == "Cho phép lần này"
        drag_block_to(dialog, TARGET)
        if os.environ.get("SIGNER_SCREENSHOTS"):
            dialog.screenshot(path=str(Path(os.environ["SIGNER_SCREENSHOTS"]) / "companion-placement.png"))
        answer = dialog.evaluate("placementAnswer()")
        dialog.locator("#once").click()
        type_pin_if_asked(browser, companion)
        outcome = wait_outcome(caller)
        assert outcome["status"] == 200, outcome
        expected = [round(v) for v in answer["rect"]]
        assert outcome["placement"] == {"page": 3, "rect": expected, "placed_by": "official"}
        page, rect = widget(base64.b64decode(outcome["pdf"]))
        assert page == 3 and [round(v) for v in rect] == expected
        assert not companion.running.daemon.consent_store.granted(page_server, "sign"), "once: not remembered"


def test_the_keyboard_moves_the_block_too(browser, page_server: str, companion: Companion) -> None:  # noqa: F811
    caller = ask(browser, page_server, companion, no_anchor_document())
    dialog = show(dialog_page(browser), companion.dialogs.next("consent"))
    page_shown(dialog, "Trang 3/3")
    before = dialog.evaluate("placementAnswer()")["rect"]
    dialog.locator("#block").focus()
    dialog.keyboard.press("ArrowLeft")
    dialog.keyboard.press("Shift+ArrowUp")
    after = dialog.evaluate("placementAnswer()")["rect"]
    assert (after[0], after[1]) == (before[0] - 2, before[1] + 10)
    dialog.locator("#once").click()
    type_pin_if_asked(browser, companion)
    outcome = wait_outcome(caller)
    assert outcome["status"] == 200, outcome
    assert outcome["placement"] == {"page": 3, "rect": [round(v) for v in after], "placed_by": "official"}


def test_refusing_the_placement_dialog_signs_nothing(browser, page_server: str,  # noqa: F811
                                                     companion: Companion) -> None:
    caller = ask(browser, page_server, companion, no_anchor_document())
    dialog = show(dialog_page(browser), companion.dialogs.next("consent"))
    page_shown(dialog, "Trang 3/3")
    dialog.locator("#refuse").click()
    outcome = wait_outcome(caller)
    assert (outcome["status"], outcome["code"]) == (403, "CONSENT_DENIED")
    assert companion.dialogs.opened.empty(), "no PIN dialog after a refusal"
    [line] = signature_lines(companion.running, 1)
    assert (line["result"], line["confirmation"], line["placement"]) == ("CONSENT_DENIED", "refused", None)


def test_a_found_anchor_needs_no_placing_and_the_reply_says_so(browser, page_server: str,  # noqa: F811
                                                               companion: Companion) -> None:
    from conftest import DOCUMENTS

    caller = ask(browser, page_server, companion, (DOCUMENTS / "libreoffice.pdf").read_bytes())
    bridge = companion.dialogs.next("consent")
    assert not bridge.placing
    dialog = show(browser.new_page(), bridge)
    assert dialog.locator("#placement-section").is_hidden()
    dialog.locator("#once").click()
    type_pin_if_asked(browser, companion)
    outcome = wait_outcome(caller)
    assert outcome["status"] == 200, outcome
    assert outcome["placement"]["page"] == 1 and outcome["placement"]["placed_by"] == "title"
    [line] = signature_lines(companion.running, 1)
    assert line["placement"] == outcome["placement"]


def test_a_vgca_document_path_asks_the_official_to_place_the_block(
        browser, dev_env: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    """SignApproved, as vgcaplugin.js calls it, on a document with no title line: the official
    places the block on page 2; the uploaded document is signed there and Message says so."""
    from concurrent.futures import ThreadPoolExecutor

    from docsys import DocumentSystem, Running
    from test_tray_dialogs import BrowserDialogs
    from test_vgca import document_frame, vgca

    from tray.core import TrayCore

    with Running(DocumentSystem()) as docsys, \
            RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,),
                          pregranted=(docsys.url,)) as running:
        docsys.stored["report.pdf"] = no_anchor_document()
        dialogs = BrowserDialogs()
        core = TrayCore(running.settings.server.state_dir, dialogs)
        core.start()
        try:
            assert core.connected.wait(10), core.error
            with ThreadPoolExecutor(1) as calls:
                reply = calls.submit(vgca, running, "SignApproved", document_frame(docsys, "report.pdf"), docsys.url)
                bridge = dialogs.next("consent")
                assert bridge.placing and bridge.confirming
                dialog = show(dialog_page(browser), bridge)
                page_shown(dialog, "Trang 3/3")
                dialog.locator("#prev-page").click()
                page_shown(dialog, "Trang 2/3")
                drag_block_to(dialog, TARGET)
                answer = dialog.evaluate("placementAnswer()")
                dialog.locator("#once").click()
                answered = reply.result(120)
        finally:
            core.stop()
        assert answered["Status"] == 0, answered
        assert answered["Message"] == "Vị trí chữ ký do người ký chọn / The signature was placed by the official"
        page, rect = widget(docsys.uploads[-1].data)
        assert page == 2 and [round(v) for v in rect] == [round(v) for v in answer["rect"]]
        (tmp_path / "uploaded.pdf").write_bytes(docsys.uploads[-1].data)
        assert "Signature is Valid." in pdfsig(tmp_path / "uploaded.pdf")
        [line] = [line for line in running.audit_settled(1) if "SignApproved" in line["operation"]]
        assert line["placement"] == {"page": 2, "rect": [round(v) for v in answer["rect"]], "placed_by": "official"}


def test_a_batch_asks_once_and_places_every_block_nothing_else_places(
        browser, dev_env: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    """The first document that needs it is shown; the page is taken counted from the end in the others."""
    from http_client import call
    from test_batches import create, wait_final
    from test_tray_dialogs import BrowserDialogs

    from tray.core import TrayCore

    page_origin = "https://qlvb.example.gov.vn"
    origin = {"Origin": page_origin}
    anchored = (Path(__file__).parent.parent / "fixtures" / "documents" / "libreoffice.pdf").read_bytes()
    files = [("anchored.pdf", anchored), ("three.pdf", no_anchor_document(3)), ("four.pdf", no_anchor_document(4))]
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(page_origin,),
                       pregranted=(page_origin,)) as running:
        dialogs = BrowserDialogs()
        core = TrayCore(running.settings.server.state_dir, dialogs)
        core.start()
        try:
            assert core.connected.wait(10), core.error
            batch = create(running.url, files, origin, profile="approved")
            bridge = dialogs.next("consent")
            assert bridge.placing and bridge.state()["data"]["placing"]["document"] == "three.pdf"
            dialog = show(dialog_page(browser), bridge)
            page_shown(dialog, "Trang 3/3")
            dialog.locator("#prev-page").click()
            page_shown(dialog, "Trang 2/3")
            drag_block_to(dialog, TARGET)
            answer = dialog.evaluate("placementAnswer()")
            dialog.locator("#once").click()
            final = wait_final(running.url, batch, origin)
            assert dialogs.opened.get(timeout=30).kind == "progress"
            assert dialogs.opened.empty(), "one dialog for the whole batch"
        finally:
            core.stop()
        assert final["state"] == "done", final
        outputs = [call("GET", f"{running.url}/v1/batches/{batch}/items/{i}", headers=origin).body for i in range(3)]
        expected = [round(v) for v in answer["rect"]]
        assert widget(outputs[1]) == (2, tuple(float(v) for v in expected))
        assert widget_on(outputs[2], 4) == (3, tuple(float(v) for v in expected)), "the second page from the end"
        assert widget_on(outputs[0], 1)[0] == 1
        lines = {line["operation"].rsplit(" ", 1)[1]: line for line in running.audit_settled(3)
                 if line["operation"].startswith("batch ")}
        assert lines["1"]["placement"] == {"page": 2, "rect": expected, "placed_by": "official"}
        assert lines["2"]["placement"] == {"page": 3, "rect": expected, "placed_by": "official"}
        assert lines["0"]["placement"]["placed_by"] == "title"
        for index, data in enumerate(outputs):
            (tmp_path / f"{index}.pdf").write_bytes(data)
            assert "Signature is Valid." in pdfsig(tmp_path / f"{index}.pdf")
