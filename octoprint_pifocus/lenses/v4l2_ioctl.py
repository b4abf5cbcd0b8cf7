"""The four V4L2 ioctls a focus control needs, with ``struct`` over ``fcntl.ioctl``.

Why not linuxpy: OctoPi ships Python 3.9 and linuxpy needs 3.10, so a fallback was needed
anyway, and four ioctls (QUERYCAP, QUERYCTRL, G_CTRL, S_CTRL) on fixed-size structs do not
justify two code paths. Layouts follow ``include/uapi/linux/videodev2.h``; the request
numbers are computed with the kernel's ``_IOC`` macro from those sizes.

``open_fn``, ``ioctl_fn`` and ``close_fn`` are injectable so tests can put a fake device
under the real struct packing.
"""
from __future__ import annotations

import errno
import os
import struct
from typing import Any, Callable, NamedTuple, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows; the driver is for Linux
    fcntl = None  # type: ignore[assignment]

# struct v4l2_capability: driver[16], card[32], bus_info[32], version, capabilities,
# device_caps, reserved[3]
CAPABILITY = struct.Struct("=16s32s32sIII3I")
# struct v4l2_queryctrl: id, type, name[32], minimum, maximum, step, default_value, flags,
# reserved[2]
QUERYCTRL = struct.Struct("=II32siiiiI2I")
# struct v4l2_control: id, value
CONTROL = struct.Struct("=Ii")

_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, number: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("V") << 8) | number


VIDIOC_QUERYCAP = _ioc(_IOC_READ, 0, CAPABILITY.size)
VIDIOC_G_CTRL = _ioc(_IOC_READ | _IOC_WRITE, 27, CONTROL.size)
VIDIOC_S_CTRL = _ioc(_IOC_READ | _IOC_WRITE, 28, CONTROL.size)
VIDIOC_QUERYCTRL = _ioc(_IOC_READ | _IOC_WRITE, 36, QUERYCTRL.size)

CID_FOCUS_ABSOLUTE = 0x009A090A
#: ``focus_automatic_continuous``; called ``focus_auto`` before Linux 5.16 (same id).
CID_FOCUS_AUTO = 0x009A090C

CTRL_TYPE_INTEGER, CTRL_TYPE_BOOLEAN, CTRL_TYPE_MENU = 1, 2, 3
CTRL_FLAG_DISABLED = 0x0001
CTRL_FLAG_GRABBED = 0x0002
CTRL_FLAG_READ_ONLY = 0x0004
CTRL_FLAG_INACTIVE = 0x0010


class ControlInfo(NamedTuple):
    """What VIDIOC_QUERYCTRL says about one control."""

    id: int
    type: int
    name: str
    minimum: int
    maximum: int
    step: int
    default: int
    flags: int

    @property
    def disabled(self) -> bool:
        return bool(self.flags & CTRL_FLAG_DISABLED)

    @property
    def read_only(self) -> bool:
        return bool(self.flags & CTRL_FLAG_READ_ONLY)

    @property
    def inactive(self) -> bool:
        return bool(self.flags & CTRL_FLAG_INACTIVE)


class Capability(NamedTuple):
    driver: str
    card: str
    bus_info: str


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class V4L2Node:
    """One open ``/dev/videoN`` or ``/dev/v4l-subdevN``. ``OSError`` passes through, for the
    caller to explain with the device and control names it knows."""

    def __init__(self, path: str, open_fn: Optional[Callable[..., int]] = None,
                 ioctl_fn: Optional[Callable[..., Any]] = None,
                 close_fn: Optional[Callable[[int], None]] = None) -> None:
        self.path = path
        self._ioctl = ioctl_fn or (fcntl.ioctl if fcntl else None)
        self._close = close_fn or os.close
        flags = os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        self.fd: Optional[int] = (open_fn or os.open)(path, flags)

    def _call(self, request: int, buf: bytearray) -> bytearray:
        if self.fd is None:
            raise OSError(errno.EBADF, "device closed", self.path)
        self._ioctl(self.fd, request, buf)
        return buf

    def query_capability(self) -> Optional[Capability]:
        """Driver and card name of a video node; ``None`` for a subdev (no QUERYCAP there)."""
        try:
            buf = self._call(VIDIOC_QUERYCAP, bytearray(CAPABILITY.size))
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EINVAL):
                return None
            raise
        driver, card, bus_info = CAPABILITY.unpack(bytes(buf))[:3]
        return Capability(_text(driver), _text(card), _text(bus_info))

    def query_control(self, cid: int) -> Optional[ControlInfo]:
        """The control's range and flags; ``None`` when the node has no such control."""
        buf = bytearray(QUERYCTRL.size)
        QUERYCTRL.pack_into(buf, 0, cid, 0, b"", 0, 0, 0, 0, 0, 0, 0)
        try:
            self._call(VIDIOC_QUERYCTRL, buf)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return None
            raise
        cid_out, ctype, name, minimum, maximum, step, default, flags, _r0, _r1 = QUERYCTRL.unpack(bytes(buf))
        return ControlInfo(cid_out, ctype, _text(name), minimum, maximum, step, default, flags)

    def get_control(self, cid: int) -> int:
        buf = bytearray(CONTROL.pack(cid, 0))
        return CONTROL.unpack(bytes(self._call(VIDIOC_G_CTRL, buf)))[1]

    def set_control(self, cid: int, value: int) -> int:
        """Set and return the value the driver kept (the kernel rounds and clamps integers)."""
        buf = bytearray(CONTROL.pack(cid, int(value)))
        return CONTROL.unpack(bytes(self._call(VIDIOC_S_CTRL, buf)))[1]

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            self._close(fd)
