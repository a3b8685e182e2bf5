"""The placement question without a browser: the terminal asker under `serve --interactive`
takes a typed page and corner (or refuses), and a batch's chosen page is counted from the end."""

from __future__ import annotations

import asyncio
import io

from signer.companion.terminal import TerminalAsker
from signer.service.placing import PageView, Placed, Placing
from signer.service.prompts import CONFIRM, ONCE, REFUSE, ConsentRequest


async def never_rendered(index: int) -> PageView:
    raise AssertionError("the terminal shows no page")


def ask(*typed: str) -> tuple[str, Placing, str]:
    answers = iter(typed)
    out = io.StringIO()
    placing = Placing("report.pdf", 3, (190.0, 78.0), never_rendered)
    request = ConsentRequest(origin="https://qlvb.example.gov.vn", scope="sign", operation="sign", mode=CONFIRM,
                             placing=placing)
    decision = asyncio.run(TerminalAsker(read=lambda prompt: next(answers), out=out).consent(request, 10))
    return decision, placing, out.getvalue()


def test_the_terminal_takes_a_typed_page_and_corner() -> None:
    decision, placing, said = ask("2", "90, 320", "1")
    assert decision == ONCE
    assert placing.placed == Placed(2, (90.0, 320.0, 280.0, 398.0), 3)
    assert "No place for the signature was found (3 pages); the block is 190 x 78 points" in said


def test_the_terminal_refuses_what_is_not_a_place() -> None:
    for typed in (("4", "90,320"), ("2", "ninety"), ("0", "1,1")):
        decision, placing, said = ask(*typed, "1")
        assert (decision, placing.placed) == (REFUSE, None), typed
        assert "The block was not placed: refused" in said


def test_a_batch_page_is_counted_from_the_end() -> None:
    placed = Placed(2, (90.0, 320.0, 280.0, 398.0), 3)  # the second page from the end of a 3-page document
    assert [placed.request(pages).page for pages in (3, 4, 10, 2, 1)] == [2, 3, 9, 1, 1]
    assert placed.request(4).rect == placed.rect
