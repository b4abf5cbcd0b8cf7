"""Focus through the V4L2 ``focus_absolute`` control: UVC webcams and kernel lens drivers.

UVC webcams (C920 0-250 step 5, C905 0-255, others 0-1023) expose the control on their
``/dev/videoN``; kernel VCM drivers (dw9714, dw9807/dw9817, ak7375) expose it on a
``/dev/v4l-subdevN``. Ranges differ per camera, so min, max and step are read from the
device. The ioctl layer is :mod:`.v4l2_ioctl` (see there for why not linuxpy).

Three behaviours shape the driver:

* ``focus_absolute`` is ignored (flagged *inactive*) while continuous auto focus is on,
  so auto focus is switched off before every position is set, if it is on.
* The kernel does not pass a value equal to the current one on to the hardware, and some
  cameras ignore a value set before streaming starts. After the camera powered down, the
  control still holds the old value while the lens does not: ``reapply()`` sets a
  neighbouring value first (one step away), then the value, so the hardware really sees it.
* The kernel silently clamps an integer control to its range, so the driver refuses an
  out-of-range value itself rather than let the lens land at an end.
"""
from __future__ import annotations

import errno
import math
import os
import re
import threading
from typing import Any, Callable, Dict, List, Optional

from ..errors import LensError
from ..messages import Message, say, text_of
from .base import LensBase, Number, format_number, probe_entry
from .v4l2_ioctl import CID_FOCUS_ABSOLUTE, CID_FOCUS_AUTO, ControlInfo, V4L2Node

SYS_DIR = "/sys/class/video4linux"
FOCUS = "focus_absolute"
AUTO = "focus_automatic_continuous"

VIDEO_GROUP_HINT = str(Message("v4l2.hint.video_group"))
SUBDEV_HINT = str(Message("v4l2.hint.subdev"))


#: The nodes the driver opens: V4L2 video and sub-device nodes.
NODE_NAME = re.compile(r"^(?:video|v4l-subdev)\d+$")
DEVICE_RULE = ("The V4L2 device must be a node /dev/videoN or /dev/v4l-subdevN, or a link to one "
               "(such as udev's /dev/v4l/by-id/...)")


def check_device(device: str, dev_dir: str = "/dev") -> str:
    """The V4L2 node ``device`` resolves to, else ``ValueError`` saying what is accepted.

    The path is resolved first (``os.path.realpath``: ``..`` and symbolic links), and what it
    resolves to must be ``videoN`` or ``v4l-subdevN`` directly in ``dev_dir``. So udev's stable
    links (``/dev/v4l/by-id/usb-...-video-index0``, ``/dev/v4l/by-path/...``) and a user's own
    udev link are fine, while ``/dev/../etc/passwd``, ``/dev/sda`` or a link to a file are
    refused before anything is opened. A link that does not exist (yet) resolves to itself and
    is refused; a plain ``/dev/videoN`` that does not exist passes here and fails when opened,
    with a message about the camera.
    """
    text = str(device).strip()
    real = os.path.realpath(text) if text else ""
    if not text or os.path.dirname(real) != os.path.realpath(dev_dir) or not NODE_NAME.match(os.path.basename(real)):
        leads = f" (it leads to {real})" if real and real != text else ""
        raise ValueError(f"{DEVICE_RULE}; {text!r}{leads} is not.")
    return real


def find_nodes(dev_dir: str = "/dev") -> List[str]:
    """``videoN`` then ``v4l-subdevN`` paths under ``dev_dir``, in number order."""
    try:
        names = os.listdir(dev_dir)
    except OSError:
        return []
    found = []
    for prefix in ("video", "v4l-subdev"):
        pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
        numbered = sorted((int(m.group(1)), m.group(0)) for m in map(pattern.match, names) if m)
        found.extend(os.path.join(dev_dir, name) for _, name in numbered)
    return found


def node_name(path: str, sys_dir: str = SYS_DIR) -> Optional[str]:
    """The kernel's name for a node ("dw9807 10-000c", "HD Pro Webcam C920"), if readable."""
    try:
        with open(os.path.join(sys_dir, os.path.basename(path), "name"), encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def explain_open_error(exc: OSError, path: str) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return say("v4l2.permission", path=path, hint=Message("v4l2.hint.video_group"))
    if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return say("v4l2.no_device", path=path)
    return say("v4l2.cannot_open", path=path, reason=exc.strerror or exc, errno=exc.errno)


def explain_control_error(exc: OSError, path: str, control: str, doing: str) -> str:
    """What failed on a control, and what to check. ``doing``: "reading" or "setting N on"."""
    code = exc.errno
    value = doing[len("setting "):-len(" on")] if doing.startswith("setting ") else None
    if value is None:
        doing_msg, doing_cap = Message("v4l2.doing.reading"), Message("v4l2.Doing.reading")
    else:
        doing_msg, doing_cap = Message("v4l2.doing.setting", value=value), Message("v4l2.Doing.setting", value=value)
    if code in (errno.ENOTTY, errno.EINVAL) and value is None:
        return say("v4l2.no_control", path=path, control=control, hint=Message("v4l2.hint.subdev"))
    if code == errno.EACCES:
        return say("v4l2.read_only", path=path, doing=doing_msg, control=control, auto=AUTO)
    if code == errno.EBUSY:
        return say("v4l2.control_busy", path=path, doing=doing_msg, control=control)
    if code in (errno.ENODEV, errno.EIO, errno.ENXIO):
        return say("v4l2.gone", doing=doing_cap, control=control, path=path, reason=exc.strerror or exc)
    return say("v4l2.failed", doing=doing_cap, control=control, path=path, reason=exc.strerror or exc, errno=code)


class NodeOpener:
    """Opens :class:`V4L2Node` objects with the (injectable) OS calls, explaining failures."""

    def __init__(self, open_fn: Optional[Callable[..., int]] = None, ioctl_fn: Optional[Callable[..., Any]] = None,
                 close_fn: Optional[Callable[[int], None]] = None) -> None:
        self.open_fn, self.ioctl_fn, self.close_fn = open_fn, ioctl_fn, close_fn

    def open(self, path: str) -> V4L2Node:
        try:
            return V4L2Node(path, self.open_fn, self.ioctl_fn, self.close_fn)
        except OSError as exc:
            raise LensError(explain_open_error(exc, path)) from None


def scan(dev_dir: str = "/dev", opener: Optional[NodeOpener] = None, sys_dir: str = SYS_DIR) -> List[Dict[str, Any]]:
    """A probe entry for every node that has ``focus_absolute`` or could not be looked at.

    Nodes that open but have no focus control (encoders, ISP nodes, metadata) are left out:
    a Pi has a dozen of them.
    """
    opener = opener or NodeOpener()
    entries = []
    for path in find_nodes(dev_dir):
        try:
            node = opener.open(path)
        except LensError as exc:
            entries.append(probe_entry("v4l2", path, found=False, message=str(exc)))
            continue
        try:
            info = node.query_control(CID_FOCUS_ABSOLUTE)
            if info is None:
                continue
            entries.append(probe_entry(
                "v4l2", path, found=True, chip=_describe(node, path, sys_dir),
                limits=(info.minimum, info.maximum), resolution=info.step, units="code",
                position=node.get_control(CID_FOCUS_ABSOLUTE), control=FOCUS,
                default=info.default, message="has focus_absolute"))
        except OSError as exc:
            if exc.errno != errno.ENOTTY:  # ENOTTY: a node without controls at all
                entries.append(probe_entry("v4l2", path, found=False,
                                           message=explain_control_error(exc, path, FOCUS, "reading")))
        finally:
            node.close()
    return entries


def _describe(node: V4L2Node, path: str, sys_dir: str) -> Optional[str]:
    name = node_name(path, sys_dir)
    if name:
        return name
    try:
        cap = node.query_capability()
    except OSError:
        return None
    return cap.card if cap else None


class V4L2Lens(LensBase):
    """``focus_absolute`` on one V4L2 node; ``device=None`` picks the first node that has it."""

    driver = "v4l2"
    units = "code"

    def __init__(self, device: Optional[str] = None, backlash: Optional[Number] = None, dev_dir: str = "/dev",
                 sys_dir: str = SYS_DIR, open_fn: Optional[Callable[..., int]] = None,
                 ioctl_fn: Optional[Callable[..., Any]] = None, close_fn: Optional[Callable[[int], None]] = None) -> None:
        self._opener = NodeOpener(open_fn, ioctl_fn, close_fn)
        self._lock = threading.Lock()
        self.backlash = backlash
        if device is None:
            device = self._detect(dev_dir, sys_dir)
        # Messages name the device as given (a udev link says more than video3); the node it
        # resolves to is what is opened, so a link swapped after the check changes nothing.
        self.device = device
        self.node_path = check_device(device, dev_dir)
        self._node: Optional[V4L2Node] = self._opener.open(self.node_path)
        try:
            info = self._node.query_control(CID_FOCUS_ABSOLUTE)
        except OSError as exc:
            self.close()
            raise LensError(explain_control_error(exc, device, FOCUS, "reading")) from None
        if info is None:
            self.close()
            raise LensError("v4l2.no_control", path=device, control=FOCUS, hint=Message("v4l2.hint.subdev"))
        if info.disabled or info.read_only:
            self.close()
            raise LensError("v4l2.disabled" if info.disabled else "v4l2.read_only_control", control=FOCUS, path=device)
        self.info = info
        self.name = _describe(self._node, self.node_path, sys_dir) or os.path.basename(self.node_path)
        self.limits = (info.minimum, info.maximum)
        self.resolution = max(1, info.step)
        try:
            self.auto = self._query(CID_FOCUS_AUTO, AUTO)
            self._position = self._get(CID_FOCUS_ABSOLUTE, FOCUS)
        except BaseException:
            self.close()  # do not leak the open device node
            raise

    def _detect(self, dev_dir: str, sys_dir: str) -> str:
        entries = scan(dev_dir, self._opener, sys_dir)
        for entry in entries:
            if entry["found"]:
                return entry["device"]
        problems = "; ".join(e["message"] for e in entries)
        if problems:
            raise LensError("v4l2.none_found", control=FOCUS, dir=dev_dir, problems=text_of(problems))
        raise LensError("v4l2.none_found_hint", control=FOCUS, dir=dev_dir)

    @property
    def where(self) -> str:
        return f"{FOCUS} on {self.device}"

    # ~~ ioctls with messages

    def _node_or_fail(self) -> V4L2Node:
        if self._node is None:
            raise LensError("v4l2.closed", path=self.device)
        return self._node

    def _query(self, cid: int, control: str) -> Optional[ControlInfo]:
        try:
            return self._node_or_fail().query_control(cid)
        except OSError as exc:
            raise LensError(explain_control_error(exc, self.device, control, "reading")) from None

    def _get(self, cid: int, control: str) -> int:
        try:
            return self._node_or_fail().get_control(cid)
        except OSError as exc:
            raise LensError(explain_control_error(exc, self.device, control, "reading")) from None

    def _set(self, cid: int, control: str, value: int) -> int:
        try:
            return self._node_or_fail().set_control(cid, value)
        except OSError as exc:
            raise LensError(explain_control_error(exc, self.device, control, f"setting {value} on")) from None

    # ~~ moves

    def _manual(self) -> None:
        """Switch continuous auto focus off if it is on, and check the lens control is live."""
        if self.auto is None or self.auto.read_only or self.auto.disabled:
            return
        if self._get(CID_FOCUS_AUTO, AUTO) == 0:
            return
        self._set(CID_FOCUS_AUTO, AUTO, 0)
        info = self._query(CID_FOCUS_ABSOLUTE, FOCUS)
        if info is not None and info.inactive:
            raise LensError("v4l2.stays_inactive", control=FOCUS, path=self.device, auto=AUTO)

    def snapped(self, position: Number) -> int:
        """``position`` on the nearest ``minimum + k * step`` in range, halves up as the kernel rounds."""
        low, step = self.info.minimum, self.resolution
        value = int(low + math.floor((position - low) / step + 0.5) * step)
        return value - step if value > self.info.maximum else value

    def move_to(self, position: Number) -> None:
        value = self.snapped(self.checked(position))
        with self._lock:
            self._manual()
            # The kernel writes back the value it kept: trust it over our own rounding.
            self._position = self._set(CID_FOCUS_ABSOLUTE, FOCUS, value)
            self._moved()

    def reapply(self) -> None:
        """Make the hardware take the last position again, although the control already holds it."""
        value = int(self._position)
        low, high = self.limits
        neighbour = value + self.resolution if value + self.resolution <= high else value - self.resolution
        with self._lock:
            self._manual()
            if low <= neighbour <= high:
                self._set(CID_FOCUS_ABSOLUTE, FOCUS, neighbour)
            self._set(CID_FOCUS_ABSOLUTE, FOCUS, value)
            self._moved()

    # ~~ reporting

    def probe(self) -> Dict[str, Any]:
        with self._lock:
            current = self._get(CID_FOCUS_ABSOLUTE, FOCUS)
            auto = self._get(CID_FOCUS_AUTO, AUTO) if self.auto is not None else None
        return probe_entry(self.driver, self.device, found=True, chip=self.name, limits=self.limits,
                           resolution=self.resolution, units=self.units, position=current,
                           control=FOCUS, default=self.info.default, auto_focus=auto,
                           message=f"step {format_number(self.resolution)}")

    def close(self) -> None:
        node, self._node = getattr(self, "_node", None), None
        if node is not None:
            node.close()

