"""``signer sign-batch DIR_OR_FILES... -o OUTDIR``: many PDFs, one login, the daemon's batch
engine (journal, one audit line per document), with a progress bar on the terminal."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Code, SignerError, os_reason_vi
from ..service.options import add_arguments, names
from ..service.repaired import NOTE_EN, NOTE_VI
from .output import announce_waits, print_json

if TYPE_CHECKING:
    from ..config import Settings
    from ..service.batches.journal import Batch

NOT_ALL_SIGNED = 11  # the batch ran, but some documents are not signed
CHUNK = 1024 * 1024


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("sign-batch", parents=[common],
                            help="sign many PDFs with one PIN entry / ký nhiều văn bản một lần")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="DIR_OR_FILE",
                        help="PDFs, or folders of PDFs, to sign / các tệp PDF, hoặc thư mục chứa tệp PDF, cần ký")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                        help="folder for the signed PDFs / thư mục lưu các tệp PDF đã ký")
    add_arguments(parser, "batch")
    parser.add_argument("--json", action="store_true", help="print the result as JSON / in kết quả dạng JSON")
    parser.set_defaults(run=run)


def documents(inputs: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() == ".pdf" and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise SignerError(Code.FILE_UNREADABLE, f"{path}: no such file or folder",
                              vi=f"{path}: không có tệp hoặc thư mục này")
    if not found:
        raise SignerError(Code.BAD_REQUEST, "no PDF documents given", vi="chưa chỉ ra văn bản PDF nào")
    return found


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    paths = documents(args.inputs)
    if not args.output.is_dir():
        raise SignerError(Code.OUTPUT_FAILED, f"{args.output}: not a folder",
                          vi=f"{args.output}: không phải là thư mục")
    options = {name: value for name in names("batch") if (value := getattr(args, name))}  # as the API gets them
    with announce_waits(below_bar=not args.json):
        summary = asyncio.run(_sign(settings, paths, options, args.output, show=not args.json))
    if args.json:
        print_json(summary)
    return 0 if summary["state"] == "done" else NOT_ALL_SIGNED


async def _sign(settings: Settings, paths: list[Path], options: dict[str, str], outdir: Path, *, show: bool) -> dict:
    from ..companion.terminal import TerminalAuthoriser, terminal_plug_in
    from ..daemon import local_signing
    from ..files import write_atomically
    from ..service.caller import CLI, Caller

    # a command asks for the PIN (and a remote credential's one-time code) on its terminal
    signing = local_signing(settings, terminal_plug_in(), TerminalAuthoriser())
    try:
        manager = signing.batches
        batch = manager.begin(Caller(origin=None, client=CLI), options)
        started = False
        try:
            for path in paths:
                await manager.intake.add_document(batch, path.name, _read(path))
            manager.start(batch)
            started = True
        finally:
            if not started:  # nothing half-copied stays in the journal
                manager.discard(batch)
        try:
            async for event in manager.events(batch):
                if show:
                    _progress(batch)
                if event["event"] == "item" and event["state"] == "signed":
                    source = paths[event["index"]]
                    data = await manager.read_output(batch, event["index"])
                    write_atomically(outdir / f"{source.stem}-signed.pdf", data)
        finally:
            manager.drop(batch)  # the signed documents are in OUTDIR: the batch's folder goes
        if show:
            print(file=sys.stderr)
            for item in batch.items:
                if item.state != "signed":
                    print(f"  {item.name}: {item.error or item.state}", file=sys.stderr)
                elif item.repaired_sha256 is not None:
                    print(f"  {item.name}: {NOTE_VI} / {NOTE_EN}", file=sys.stderr)
        return {**batch.summary(), "output": str(outdir)}
    finally:
        signing.close()


async def _read(path: Path) -> AsyncIterator[bytes]:
    import asyncio

    try:
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
    except OSError as exc:
        raise SignerError(Code.FILE_UNREADABLE, f"{path}: {exc.strerror or exc}",
                          vi=f"{path}: {os_reason_vi(exc)}") from None


def _progress(batch: Batch) -> None:
    total = len(batch.items)
    settled = sum(i.state != "pending" for i in batch.items)
    signed = sum(i.state == "signed" for i in batch.items)
    width = 30
    filled = width * settled // total
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {settled}/{total} đã xử lý / done, {signed} đã ký / signed",
          end="", file=sys.stderr, flush=True)
