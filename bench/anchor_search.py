"""The anchor search on long documents whose anchor stands on page 1 only (the worst case:
every page is looked at before it is found, or the search gives up).

    python bench/anchor_search.py [--pages 300,1000,10000] [--baseline-pages 300]

Ours: ``plan_pdf`` with the "approved" profile: one parse of the document, the pages read
from the last backwards; once with the packaged page cap (``anchor_search_pages``, 20:
ANCHOR_NOT_FOUND after the last 20 pages) and once with the cap at the page count (every
page read in the one pass, the anchor found on page 1). Baseline, in the same run: the
approach before, one pdfminer ``extract_pages(page_numbers=[p])`` per page from the last
backwards, each a parse of the whole document (timed on the smaller documents only: it is
quadratic, 1,000 pages take minutes).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "fixtures" / "documents" / "hostile"))

import make_hostile  # noqa: E402
from pdfminer.high_level import extract_pages  # noqa: E402

from policies.profiles import load_profile  # noqa: E402
from signer.engine import budget, pdf  # noqa: E402
from signer.engine.options import PlacementRequest  # noqa: E402
from signer.engine.pagetext import layout_lines, line_text, nfc  # noqa: E402
from signer.errors import SignerError  # noqa: E402

ANCHORS = load_profile("approved").placement.anchors
# no fallback: what is measured is the search, not the free space found once it fails
APPROVED = pdf.PdfSignOptions(profile="approved", placement=PlacementRequest(fallback=False))


def ours(data: bytes) -> str:
    try:
        plan = pdf.plan_pdf(data, APPROVED)
    except SignerError as error:
        return error.code
    return f"page {plan.spot.page + 1}" if plan else "-"


def baseline(data: bytes) -> str:
    writer = pdf.open_pdf(data)
    wanted = [nfc(a) for a in ANCHORS]
    for page in range(pdf.page_count(writer) - 1, -1, -1):
        for layout in extract_pages(io.BytesIO(data), page_numbers=[page]):
            if any(nfc(line_text(chars)) in wanted for chars in layout_lines(layout)):
                return f"page {page + 1}"
    return "ANCHOR_NOT_FOUND"


def timed(work: Callable[[bytes], str], data: bytes) -> tuple[float, str]:
    start = time.perf_counter()
    outcome = work(data)
    return time.perf_counter() - start, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="300,1000,10000")
    parser.add_argument("--baseline-pages", default="300", help="sizes to time the baseline on too")
    args = parser.parse_args()
    packaged = budget.current()
    with_baseline = {int(n) for n in args.baseline_pages.split(",") if n}
    print(f"{'pages':>6} {'size':>8} | {'ours, cap 20':>25} | {'ours, no cap':>20} | {'baseline':>20} | ratio")
    for pages in (int(n) for n in args.pages.split(",")):
        data = make_hostile.many_pages(pages, anchor_page=1)
        budget.configure(packaged)
        capped, capped_outcome = timed(ours, data)
        budget.configure(budget.ReadBudget(pages, packaged.decoded_max_bytes, packaged.decoded_max_ratio))
        whole, whole_outcome = timed(ours, data)
        row = (f"{pages:>6} {len(data) / 2**20:>6.1f}MB | {capped:>6.2f} s {capped_outcome:>16} | "
               f"{whole:>6.2f} s {whole_outcome:>11}")
        if pages in with_baseline:
            old, old_outcome = timed(baseline, data)
            row += f" | {old:>6.2f} s {old_outcome:>11} | {old / whole:.0f}x (no cap), {old / capped:.0f}x (cap)"
        print(row, flush=True)


if __name__ == "__main__":
    main()
