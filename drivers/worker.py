"""One worker thread per PKCS#11 module.

Calls into one module from two threads at once crash some modules (SoftHSM with
python-pkcs11 segfaults), so every call into a module, including loading it,
runs on that module's single thread. Async callers await it; threads block on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ModuleWorker:
    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pkcs11-{name}")
        self._thread_id: int | None = self._executor.submit(threading.get_ident).result()

    @property
    def thread_id(self) -> int | None:
        return self._thread_id

    def on_worker(self) -> bool:
        return threading.get_ident() == self._thread_id

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._executor.submit(fn, *args, **kwargs)

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run on the worker and wait (from any thread; directly if already on it)."""
        if self.on_worker():
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    async def arun(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run on the worker without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
