"""Concurrent signing from asyncio tasks and threads goes through the one module worker."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import DOCUMENTS, DevEnv
from pdf_checks import assert_pdfsig_all_valid, validate_all

from drivers.worker import ModuleWorker
from signer.engine.pdf import sign_pdf


def test_fifty_concurrent_signatures(leader_key, dev_env: DevEnv, tmp_path: Path) -> None:
    data = (DOCUMENTS / "reportlab-10-pages.pdf").read_bytes()
    module = leader_key.module
    worker_calls: list[int] = []
    original = module._sign_on_worker

    def recording(*args, **kwargs):
        worker_calls.append(threading.get_ident())
        return original(*args, **kwargs)

    module._sign_on_worker = recording
    try:
        async def from_tasks() -> list[bytes]:
            results = await asyncio.gather(*(sign_pdf(data, leader_key) for _ in range(25)))
            return [r.data for r in results]

        def from_thread(_: int) -> bytes:
            return asyncio.run(sign_pdf(data, leader_key)).data

        with ThreadPoolExecutor(max_workers=8) as pool:
            threaded = pool.map(from_thread, range(25))
            tasked = asyncio.run(from_tasks())
            outputs = tasked + list(threaded)
    finally:
        del module._sign_on_worker

    assert len(outputs) == 50
    assert len(worker_calls) == 50
    assert set(worker_calls) == {module.worker.thread_id}, "every token call ran on the module's worker"
    for index, signed in enumerate(outputs):
        path = tmp_path / f"{index}.pdf"
        path.write_bytes(signed)
        assert_pdfsig_all_valid(path, 1)
    for signed in outputs[::10]:
        status = validate_all(signed, dev_env.root_cert)[0]
        assert status.intact and status.valid and status.trusted


def test_worker_runs_everything_on_one_thread() -> None:
    worker = ModuleWorker("probe")
    try:
        seen: set[int] = set()

        def probe() -> int:
            seen.add(threading.get_ident())
            return threading.get_ident()

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda _: worker.run(probe), range(20)))

        async def many() -> None:
            await asyncio.gather(*(worker.arun(probe) for _ in range(20)))

        asyncio.run(many())
        assert seen == {worker.thread_id}
        # a call made from the worker itself runs directly instead of deadlocking
        assert worker.run(lambda: worker.run(probe)) == worker.thread_id
    finally:
        worker.close()
