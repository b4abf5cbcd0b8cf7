"""Fake V4L2 nodes at the ioctl layer: real struct bytes in, kernel-like behaviour out.

``FakeV4L2.open``/``ioctl``/``close`` stand in for ``os.open``/``fcntl.ioctl``/``os.close``.
Each request is decoded from the bytes the driver packed, with layouts and request numbers
written here from ``videodev2.h`` (not imported from the driver, so a wrong layout there
fails here). Behaviour follows the kernel's control framework:

* an unknown control id is EINVAL; a read-only control is EACCES on set;
* an integer control is silently clamped and rounded to its step (ROUND_TO_RANGE), a menu
  out of range is ERANGE, a boolean becomes 0/1;
* a value equal to the current one is not passed on to the hardware (the quirk that
  makes ``reapply()`` necessary);
* while continuous auto focus is on, ``focus_absolute`` is flagged inactive and the lens
  ignores it.

``lens`` is where the hardware really is; ``power_cycle()`` loses it but not the control's
cached value. ``log`` records every control access in order.
"""
from __future__ import annotations

import errno
import os
import struct
from typing import Dict, List, Optional, Set, Tuple

VIDIOC_QUERYCAP = 0x80685600
VIDIOC_G_CTRL = 0xC008561B
VIDIOC_S_CTRL = 0xC008561C
VIDIOC_QUERYCTRL = 0xC0445624

QUERYCTRL = struct.Struct("=II32siiiiI2I")   # 68 bytes
CONTROL = struct.Struct("=Ii")               # 8 bytes
CAPABILITY = struct.Struct("=16s32s32sIII3I")  # 104 bytes

FOCUS_ABSOLUTE = 0x009A090A
FOCUS_AUTO = 0x009A090C
INTEGER, BOOLEAN, MENU = 1, 2, 3
FLAG_READ_ONLY, FLAG_INACTIVE, FLAG_GRABBED = 0x0004, 0x0010, 0x0002


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class Control:
    def __init__(self, cid: int, name: str, ctype: int, minimum: int, maximum: int, step: int = 1,
                 default: int = 0, flags: int = 0) -> None:
        self.id, self.name, self.type = cid, name, ctype
        self.minimum, self.maximum, self.step = minimum, maximum, step
        self.default, self.flags = default, flags
        self.value = default

    def validate(self, value: int) -> int:
        if self.type == BOOLEAN:
            return 1 if value else 0
        if self.type == MENU:
            if not self.minimum <= value <= self.maximum:
                raise _err(errno.ERANGE)
            return value
        # ROUND_TO_RANGE: round to the nearest step, clamp, no error.
        if value >= self.maximum - self.step // 2:
            value = self.maximum
        else:
            value += self.step // 2
        value = min(self.maximum, max(self.minimum, value))
        return self.minimum + self.step * ((value - self.minimum) // self.step)


class FakeNode:
    """One /dev/videoN or /dev/v4l-subdevN."""

    def __init__(self, controls: List[Control], card: Optional[str] = None) -> None:
        self.controls: Dict[int, Control] = {c.id: c for c in controls}
        self.card = card              # None: a subdev, no VIDIOC_QUERYCAP
        focus = self.controls.get(FOCUS_ABSOLUTE)
        self.lens = focus.value if focus else None
        self.log: List[Tuple[str, str, int]] = []
        self.ignored: List[int] = []  # values the lens did not take (auto focus on)
        self._sync_inactive()

    @classmethod
    def uvc_c920(cls) -> "FakeNode":
        return cls([Control(FOCUS_ABSOLUTE, "Focus, Absolute", INTEGER, 0, 250, 5, 0),
                    Control(FOCUS_AUTO, "Focus, Automatic Continuous", BOOLEAN, 0, 1, 1, 1)],
                   card="HD Pro Webcam C920")

    @classmethod
    def subdev_dw9807(cls) -> "FakeNode":
        return cls([Control(FOCUS_ABSOLUTE, "Focus, Absolute", INTEGER, 0, 1023, 1, 0)])

    @classmethod
    def without_focus(cls, card: str = "unicam-image") -> "FakeNode":
        return cls([Control(0x00980900, "Brightness", INTEGER, 0, 255, 1, 128)], card=card)

    def auto_on(self) -> bool:
        auto = self.controls.get(FOCUS_AUTO)
        return bool(auto and auto.value)

    def _sync_inactive(self) -> None:
        focus = self.controls.get(FOCUS_ABSOLUTE)
        if focus is not None:
            focus.flags = (focus.flags | FLAG_INACTIVE) if self.auto_on() else (focus.flags & ~FLAG_INACTIVE)

    def power_cycle(self) -> None:
        self.lens = 0

    def names(self) -> List[str]:
        return [f"{op} {name}={value}" for op, name, value in self.log]

    # ~~ the ioctls

    def handle(self, request: int, buf: bytearray) -> None:
        size = (request >> 16) & 0x3FFF
        if size != len(buf):
            raise _err(errno.EFAULT)      # the struct the caller passed has the wrong size
        if request == VIDIOC_QUERYCAP:
            if self.card is None:
                raise _err(errno.ENOTTY)
            CAPABILITY.pack_into(buf, 0, b"uvcvideo", self.card.encode(), b"usb-0000:01:00.0-1.2",
                                 0x060100, 0x84A00001, 0x04200001, 0, 0, 0)
        elif request == VIDIOC_QUERYCTRL:
            control = self._control(QUERYCTRL.unpack_from(buf)[0])
            QUERYCTRL.pack_into(buf, 0, control.id, control.type, control.name.encode(), control.minimum,
                                control.maximum, control.step, control.default, control.flags, 0, 0)
        elif request == VIDIOC_G_CTRL:
            control = self._control(CONTROL.unpack_from(buf)[0])
            self.log.append(("get", _short(control.id), control.value))
            CONTROL.pack_into(buf, 0, control.id, control.value)
        elif request == VIDIOC_S_CTRL:
            cid, value = CONTROL.unpack_from(buf)
            control = self._control(cid)
            if control.flags & FLAG_READ_ONLY:
                raise _err(errno.EACCES)
            if control.flags & FLAG_GRABBED:
                raise _err(errno.EBUSY)
            value = control.validate(value)
            self.log.append(("set", _short(cid), value))
            changed = value != control.value
            control.value = value
            if cid == FOCUS_AUTO:
                self._sync_inactive()
            elif cid == FOCUS_ABSOLUTE and changed:  # equal values never reach the hardware
                if self.auto_on():
                    self.ignored.append(value)
                else:
                    self.lens = value
            CONTROL.pack_into(buf, 0, cid, value)
        else:
            raise _err(errno.ENOTTY)

    def _control(self, cid: int) -> Control:
        if cid not in self.controls:
            raise _err(errno.EINVAL)
        return self.controls[cid]


def _short(cid: int) -> str:
    return {FOCUS_ABSOLUTE: "focus_absolute", FOCUS_AUTO: "focus_auto"}.get(cid, hex(cid))


class FakeV4L2:
    """Nodes by file name, with the OS calls the driver's ioctl layer makes."""

    def __init__(self, dev_dir: str) -> None:
        self.dev_dir = dev_dir
        self.nodes: Dict[str, FakeNode] = {}
        self.denied: Set[str] = set()
        self._fds: Dict[int, FakeNode] = {}
        self._next_fd = 100
        self.closed = 0

    def add(self, name: str, node: FakeNode) -> FakeNode:
        self.nodes[name] = node
        open(os.path.join(self.dev_dir, name), "w").close()
        return node

    def open(self, path: str, flags: int) -> int:
        name = os.path.basename(path)
        if not flags & os.O_RDWR:
            raise _err(errno.EINVAL)      # controls are set: the node must be opened for writing
        if name in self.denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        if name not in self.nodes or os.path.dirname(path) != self.dev_dir:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        fd, self._next_fd = self._next_fd, self._next_fd + 1
        self._fds[fd] = self.nodes[name]
        return fd

    def ioctl(self, fd: int, request: int, buf: bytearray, mutate: bool = True) -> int:
        if fd not in self._fds:
            raise _err(errno.EBADF)
        if not isinstance(buf, bytearray):
            raise TypeError("the driver must pass a mutable buffer")
        self._fds[fd].handle(request, buf)
        return 0

    def close(self, fd: int) -> None:
        if self._fds.pop(fd, None) is not None:
            self.closed += 1

    @property
    def open_count(self) -> int:
        return len(self._fds)

    def options(self) -> dict:
        return {"dev_dir": self.dev_dir, "open_fn": self.open, "ioctl_fn": self.ioctl, "close_fn": self.close}
