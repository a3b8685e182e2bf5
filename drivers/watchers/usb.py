"""USB devices whose vendor/product id is in the catalogue, appearing and leaving.

On Linux udev tells (pyudev); elsewhere pyusb enumerates every ``interval_s``
(it has no hot-plug callback), which is what the hot-plug benchmark measures.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..catalog import models_for_usb
from .events import Observation, Threaded


def _known(vendor: int, product: int) -> bool:
    return bool(models_for_usb(vendor, product))


def _observation(kind: str, key: str, vendor: int, product: int, initial: bool = False) -> Observation:
    return Observation("arrived" if kind == "arrived" else "left", "usb", key, usb_id=(vendor, product),
                       initial=initial)


class UdevUsbWatcher(Threaded):
    name = "usb"

    def __init__(self, *, only_known: bool = True, poll_s: float = 1.0) -> None:
        import pyudev  # optional: Linux only

        super().__init__()
        self._pyudev: Any = pyudev
        self.only_known = only_known
        self.poll_s = poll_s  # how soon ``stop`` is noticed; udev itself wakes us on events

    def start(self, emit: Callable[[Observation], None]) -> None:
        context = self._pyudev.Context()
        monitor = self._pyudev.Monitor.from_netlink(context)
        monitor.filter_by(subsystem="usb", device_type="usb_device")
        monitor.start()
        for device in context.list_devices(subsystem="usb", DEVTYPE="usb_device"):
            self._report("arrived", device, emit, initial=True)
        self._begin(self._run, monitor, emit)

    def _run(self, monitor: Any, emit: Callable[[Observation], None]) -> None:
        while not self._stopped.is_set():
            device = monitor.poll(timeout=self.poll_s)
            if device is not None and device.action in ("add", "remove"):
                self._report("arrived" if device.action == "add" else "left", device, emit)

    def _report(self, kind: str, device: Any, emit: Callable[[Observation], None], initial: bool = False) -> None:
        # PRODUCT is "vendor/product/bcdDevice" in hex, present on removal too
        parts = (device.properties.get("PRODUCT") or "").split("/")
        if len(parts) < 2:
            return
        vendor, product = int(parts[0], 16), int(parts[1], 16)
        if not self.only_known or _known(vendor, product):
            emit(_observation(kind, device.sys_path, vendor, product, initial))


class PyusbPollWatcher(Threaded):
    name = "usb"

    def __init__(self, *, interval_s: float = 2.0, only_known: bool = True) -> None:
        import usb.core  # optional: pyusb

        super().__init__()
        self._core: Any = usb.core
        self.interval_s = interval_s
        self.only_known = only_known

    def start(self, emit: Callable[[Observation], None]) -> None:
        self._begin(self._run, emit)

    def _run(self, emit: Callable[[Observation], None]) -> None:
        seen: dict[str, tuple[int, int]] = {}
        first = True
        while True:
            now = {
                f"{d.bus}-{d.address}": (d.idVendor, d.idProduct)
                for d in self._core.find(find_all=True)
                if not self.only_known or _known(d.idVendor, d.idProduct)
            }
            for key in set(seen) - set(now):
                emit(_observation("left", key, *seen.pop(key)))
            for key in set(now) - set(seen):
                seen[key] = now[key]
                emit(_observation("arrived", key, *now[key], initial=first))
            first = False
            if self._stopped.wait(self.interval_s):
                return


def usb_watcher(**options: Any) -> UdevUsbWatcher | PyusbPollWatcher:
    """udev on Linux, pyusb polling elsewhere."""
    if sys.platform.startswith("linux"):
        return UdevUsbWatcher(**options)
    return PyusbPollWatcher(**options)
