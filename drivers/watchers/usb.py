"""USB devices whose vendor/product id is in the catalogue, appearing and leaving.

On Linux udev tells (pyudev); elsewhere pyusb enumerates every ``interval_s``
(it has no hot-plug callback), which is what the hot-plug benchmark measures.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ..catalog import TokenModel, model_for_usb
from .events import Observation, Threaded
from .present import Seen, UsbDevice


def _known(vendor: int, product: int) -> bool:
    return model_for_usb(vendor, product) is not None


def udev_usb_id(device: Any) -> tuple[int, int] | None:
    """(vendor, product) of a udev ``usb_device``: its PRODUCT property is "vendor/product/bcdDevice"
    in hex, present on removal too."""
    parts = (device.properties.get("PRODUCT") or "").split("/")
    if len(parts) < 2:
        return None
    return int(parts[0], 16), int(parts[1], 16)


def pyusb_key(device: Any) -> str:
    """What names a pyusb device while it stays plugged in."""
    return f"{device.bus}-{device.address}"


def _observation(kind: str, key: str, vendor: int, product: int, initial: bool = False) -> Observation:
    return Observation("arrived" if kind == "arrived" else "left", "usb", key, usb_id=(vendor, product),
                       initial=initial)


class UdevUsbWatcher(Threaded):
    name = "usb"

    def __init__(self, *, only_known: bool = True) -> None:
        import pyudev  # optional: Linux only

        super().__init__()
        self._pyudev: Any = pyudev
        self.only_known = only_known
        self._wake: tuple[int, int] | None = None  # ``stop`` writes to it: the wait ends at once

    def start(self, emit: Callable[[Observation], None]) -> None:
        context = self._pyudev.Context()
        monitor = self._pyudev.Monitor.from_netlink(context)
        monitor.filter_by(subsystem="usb", device_type="usb_device")
        monitor.start()
        for device in context.list_devices(subsystem="usb", DEVTYPE="usb_device"):
            self._report("arrived", device, emit, initial=True)
        self._wake = os.pipe()
        self._begin(self._run, monitor, self._wake, emit)

    def _run(self, monitor: Any, wake: tuple[int, int], emit: Callable[[Observation], None]) -> None:
        try:
            while not self._stopped.is_set():
                readable, _, _ = select.select([monitor, wake[0]], [], [])  # udev or ``stop``: no polling
                if monitor not in readable:
                    continue
                device = monitor.poll(timeout=0)
                if device is not None and device.action in ("add", "remove"):
                    self._report("arrived" if device.action == "add" else "left", device, emit)
        finally:
            self._wake = None
            os.close(wake[0])
            os.close(wake[1])

    def _interrupt(self) -> None:
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(OSError):  # the thread ended and closed it meanwhile
                os.write(wake[1], b"x")

    def _report(self, kind: str, device: Any, emit: Callable[[Observation], None], initial: bool = False) -> None:
        usb_id = udev_usb_id(device)
        if usb_id is not None and (not self.only_known or _known(*usb_id)):
            emit(_observation(kind, device.sys_path, *usb_id, initial))


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
                pyusb_key(d): (d.idVendor, d.idProduct)
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


def connected_usb(catalog: Iterable[TokenModel] | None = None) -> Seen[UsbDevice]:
    """Every USB device plugged in now: udev on Linux, pyusb elsewhere."""
    if sys.platform.startswith("linux"):
        return _udev_devices(catalog)
    return _pyusb_devices(catalog)


def _udev_devices(catalog: Iterable[TokenModel] | None) -> Seen[UsbDevice]:
    try:
        import pyudev  # optional: Linux only

        context = pyudev.Context()
        listed = list(context.list_devices(subsystem="usb", DEVTYPE="usb_device"))
    except ImportError:
        return Seen(not_available="pyudev is not installed")
    except OSError as exc:
        return Seen(not_available=f"udev cannot be read: {exc}")
    found = []
    for device in listed:
        usb_id = udev_usb_id(device)
        if usb_id is None:
            continue
        # TYPE and INTERFACE are "class/subclass/protocol" in decimal
        classes = {device.properties.get("TYPE")} | {
            child.properties.get("INTERFACE") for child in device.children if child.device_type == "usb_interface"
        }
        model = model_for_usb(*usb_id, catalog=catalog)
        found.append(UsbDevice(*usb_id, frozenset(_class_of(c) for c in classes if c), model))
    return Seen(tuple(found))


def _pyusb_devices(catalog: Iterable[TokenModel] | None) -> Seen[UsbDevice]:
    try:
        import usb.core  # optional: pyusb
    except ImportError:
        return Seen(not_available="pyusb is not installed")
    try:
        listed = list(usb.core.find(find_all=True))
    except usb.core.NoBackendError:
        return Seen(not_available="pyusb finds no USB library (libusb) on this machine")
    except usb.core.USBError as exc:
        return Seen(not_available=f"USB devices cannot be read: {exc}")
    found = []
    for device in listed:
        usb_id = (device.idVendor, device.idProduct)
        try:
            classes = {device.bDeviceClass} | {i.bInterfaceClass for config in device for i in config}
        except usb.core.USBError:
            classes = {device.bDeviceClass}  # descriptors not readable here: the device's own class only
        found.append(UsbDevice(*usb_id, frozenset(classes), model_for_usb(*usb_id, catalog=catalog)))
    return Seen(tuple(found))


def _class_of(triple: str) -> int:
    return int(triple.split("/")[0])
