"""Voice-coil lens drivers on I2C (Arducam motorized focus, Pi Camera Module 3), over smbus2.

Why it looks the way it does:

* **Chips.** DW9714 takes two bare bytes (no register), exactly as the vendor's example
  writes them; DW9807/DW9817 take a 3-byte register write after a busy poll; AK7375 a
  2-byte register write. Each chip is a small object with ``wake``/``write``/``read``, so
  the lens logic (locking, retries, range, memory) is written once.
* **Bus.** The camera's bus number differs by Pi model and firmware, and a hard-coded
  bus is the commonest failure in older plugins. Without a bus number, every
  ``/dev/i2c-*`` is tried in the order most likely on a Pi 4/5 (10, 0, 11, 1, 22, then
  the rest), and every candidate is reported, answered or not.
* **Errors.** A VCM is powered only while the camera streams, so "Remote I/O error" is
  normal when the webcam is off: transient errors are retried a few times, then turned
  into a message that says what to check.
* **Lock.** The UI and an autofocus run may move the lens at the same time; a DW9807
  move is a poll and a write that must not interleave with another move.
* **Memory.** A VCM forgets its position when the camera powers down; ``reapply()``
  sends the last position again (the plugin calls it at start-up and after the stream
  restarts).
"""
from __future__ import annotations

import errno
import os
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import LensError, MoveRefused
from ..messages import Message, remember, say, text_of
from .base import LensBase, Number, check_limits, format_number, probe_entry

try:
    from smbus2 import SMBus, i2c_msg
except ImportError:  # pragma: no cover - smbus2 is a dependency; this keeps imports working
    SMBus = None  # type: ignore[assignment,misc]
    i2c_msg = None  # type: ignore[assignment]

DEFAULT_ADDRESS = 0x0C
#: Bus numbers in the order most likely to carry the camera on a Pi 4/5, then older Pis.
BUS_ORDER = (10, 0, 11, 1, 22)
#: errno values worth another try: a NACK while the VCM powers up, a glitch, a busy bus.
TRANSIENT_ERRNOS = frozenset({errno.EREMOTEIO, errno.EIO, errno.ETIMEDOUT, errno.EAGAIN})
#: errno values meaning "nothing acknowledged the address".
NO_ANSWER_ERRNOS = frozenset({errno.EREMOTEIO, errno.ENXIO})

BusFactory = Callable[..., Any]


# ~~ chips

class Chip:
    """One VCM driver chip: its range and how a position goes over the wire."""

    name = "chip"
    maximum = 1023
    #: Where the lens rests with the chip freshly powered.
    idle = 0

    def wake(self, bus: Any, address: int) -> None:
        """Leave power-down; a no-op for chips without a control register."""

    def write(self, bus: Any, address: int, position: int, sleep: Callable[[float], None]) -> None:
        raise NotImplementedError

    def read(self, bus: Any, address: int) -> int:
        raise NotImplementedError


def encode_dw9714(position: int) -> bytes:
    """DW9714 bytes for ``position`` (0-1023): ``pos<<4`` split as the vendor code does."""
    value = (position << 4) & 0x3FF0
    return bytes(((value >> 8) & 0x3F, value & 0xF0))


def encode_dw9807(position: int) -> bytes:
    """DW9807/DW9817 MSB (bits 9:8, register 0x03) and LSB (bits 7:0, register 0x04)."""
    return bytes(((position >> 8) & 0x03, position & 0xFF))


def encode_ak7375(position: int) -> bytes:
    """AK7375 register 0x00: ``pos<<4`` as two bytes, MSB first."""
    value = (position << 4) & 0xFFF0
    return bytes((value >> 8, value & 0xFF))


class DW9714(Chip):
    name = "dw9714"
    maximum = 1023

    def write(self, bus, address, position, sleep):
        high, low = encode_dw9714(position)
        # The vendor example's call: the same two bytes on the wire as a raw 2-byte write.
        bus.write_byte_data(address, high, low)

    def read(self, bus, address):
        msg = i2c_msg.read(address, 2)
        bus.i2c_rdwr(msg)
        high, low = list(msg)
        return (((high & 0x3F) << 8) | low) >> 4


class DW9807(Chip):
    """DW9807 and DW9817 (the Pi Camera Module 3's lens driver; DW9817 rests at 512)."""

    maximum = 1023
    CONTROL, MSB, STATUS = 0x02, 0x03, 0x05
    #: Status polls before a write, 1 ms apart, as the kernel driver does.
    BUSY_POLLS = 10

    def __init__(self, name: str = "dw9807", idle: int = 0) -> None:
        self.name = name
        self.idle = idle

    def wake(self, bus, address):
        bus.write_byte_data(address, self.CONTROL, 0x00)

    def write(self, bus, address, position, sleep):
        for _ in range(self.BUSY_POLLS):
            if bus.read_byte_data(address, self.STATUS) == 0:
                break
            sleep(0.001)
        else:
            raise LensError("i2c.chip_busy", chip=self.name.upper(), address=f"{address:02X}")
        bus.write_i2c_block_data(address, self.MSB, list(encode_dw9807(position)))

    def read(self, bus, address):
        msb, lsb = bus.read_i2c_block_data(address, self.MSB, 2)
        return ((msb & 0x03) << 8) | lsb


class AK7375(Chip):
    name = "ak7375"
    maximum = 4095
    POSITION, CONTROL = 0x00, 0x02

    def wake(self, bus, address):
        bus.write_byte_data(address, self.CONTROL, 0x00)

    def write(self, bus, address, position, sleep):
        bus.write_i2c_block_data(address, self.POSITION, list(encode_ak7375(position)))

    def read(self, bus, address):
        high, low = bus.read_i2c_block_data(address, self.POSITION, 2)
        return ((high << 8) | low) >> 4


CHIPS: Dict[str, Chip] = {
    "dw9714": DW9714(),
    "dw9807": DW9807("dw9807"),
    "dw9817": DW9807("dw9817", idle=512),
    "ak7375": AK7375(),
}


def get_chip(name: str) -> Chip:
    try:
        return CHIPS[str(name).strip().lower()]
    except KeyError:
        raise ValueError(
            f"Unknown lens driver chip {name!r}: choose one of {', '.join(sorted(CHIPS))} "
            "(Arducam motorized focus: dw9714; Pi Camera Module 3: dw9817; Arducam 16MP: ak7375)"
        ) from None


# ~~ buses and messages

#: The highest I2C bus number accepted (a Pi's camera buses are 0..22).
BUS_MAX = 255


def check_bus(bus: Any) -> int:
    """``bus`` (an int or a numeric string) as an I2C bus number 0..:data:`BUS_MAX`;
    ``ValueError`` saying what is accepted otherwise."""
    number = None
    if isinstance(bus, int) and not isinstance(bus, bool):
        number = bus
    elif isinstance(bus, str) and re.fullmatch(r"\s*[+-]?\d{1,10}\s*", bus):
        number = int(bus)
    if number is None or not 0 <= number <= BUS_MAX:
        shown = repr(bus)[:24] if not isinstance(bus, int) or abs(bus) < 10 ** 12 else "a huge number"
        raise ValueError(f"The I2C bus must be a whole number 0..{BUS_MAX} (the N of /dev/i2c-N); "
                         f"got {shown}")
    return number


def bus_path(number: int, dev_dir: str = "/dev") -> str:
    return os.path.join(dev_dir, f"i2c-{number}")


def find_buses(dev_dir: str = "/dev") -> List[int]:
    """The ``i2c-N`` numbers under ``dev_dir``, most likely camera bus first."""
    try:
        names = os.listdir(dev_dir)
    except OSError:
        return []
    numbers = sorted(int(m.group(1)) for m in map(re.compile(r"^i2c-(\d+)$").match, names) if m)
    preferred = [n for n in BUS_ORDER if n in numbers]
    return preferred + [n for n in numbers if n not in preferred]


NO_ANSWER_HINT = str(Message("i2c.hint.no_answer"))
PERMISSION_HINT = str(Message("i2c.hint.permission"))


def explain_oserror(exc: OSError, path: str, address: int, doing: str = "") -> str:
    """A message for a failed open or transfer that says what to check."""
    return remember(explain_oserror_message(exc, path, address, doing))


def explain_oserror_message(exc: OSError, path: str, address: int, doing: Any = "") -> Message:
    """:func:`explain_oserror` as a :class:`Message` (``doing`` a message or text)."""
    code = exc.errno
    at = dict(address=f"{address:02X}", path=path)
    if code in NO_ANSWER_ERRNOS:
        return Message("i2c.no_answer", hint=Message("i2c.hint.no_answer"), **at)
    if code in (errno.EACCES, errno.EPERM):
        return Message("i2c.permission", path=path, hint=Message("i2c.hint.permission"))
    if code == errno.ENOENT:
        return Message("i2c.no_device", path=path)
    if code == errno.EBUSY:
        return Message("i2c.busy_address", **at)
    if code == errno.ENOTTY:
        return Message("i2c.not_a_bus", path=path)
    if code in (errno.ETIMEDOUT, errno.EAGAIN):
        return Message("i2c.timeout", doing=doing, **at)
    reason = exc.strerror or str(exc)
    return Message("i2c.transfer_failed", doing=doing, reason=reason, errno=code,
                   hint=Message("i2c.hint.no_answer"), **at)


def scan(address: int = DEFAULT_ADDRESS, dev_dir: str = "/dev", bus_factory: Optional[BusFactory] = None,
         force: bool = False, chip: str = "dw9714") -> List[Dict[str, Any]]:
    """Every ``/dev/i2c-*`` with whether a device answers at ``address``: one probe entry each.

    It reads one byte (a harmless receive, as ``i2cdetect`` does for such addresses) and,
    where something answers, the position with the given chip's readback. The chip cannot
    be identified over I2C, so it is reported as assumed.
    """
    factory = bus_factory or smbus_factory(dev_dir)
    chip_obj = get_chip(chip)
    entries = []
    for number in find_buses(dev_dir):
        path = bus_path(number, dev_dir)
        common = dict(chip=chip_obj.name, limits=(0, chip_obj.maximum), resolution=1, units="code",
                      bus=number, address=address, chip_assumed=True)
        try:
            bus = _open_bus(factory, number, force)
        except OSError as exc:
            entries.append(probe_entry("i2c", path, found=False,
                                       message=explain_oserror(exc, path, address), **common))
            continue
        try:
            bus.read_byte(address)
            try:
                current: Optional[int] = chip_obj.read(bus, address)
            except OSError:
                current = None
            entries.append(probe_entry("i2c", path, found=True, position=current,
                                       message=f"a device answers at 0x{address:02X}", **common))
        except OSError as exc:
            entries.append(probe_entry("i2c", path, found=False,
                                       message=explain_oserror(exc, path, address), **common))
        finally:
            bus.close()
    return entries


def smbus_factory(dev_dir: str = "/dev") -> BusFactory:
    """``SMBus`` opening ``i2c-N`` under ``dev_dir`` (smbus2 takes a path as well as a number)."""
    def open_bus(number: int, force: bool = False) -> Any:
        if SMBus is None:
            raise LensError("i2c.no_smbus")
        return SMBus(bus_path(number, dev_dir), force=force)

    return open_bus


def _open_bus(factory: BusFactory, number: int, force: bool) -> Any:
    return factory(number, force=force) if force else factory(number)


# ~~ the lens

class I2CVCMLens(LensBase):
    """A voice-coil lens behind a DW9714, DW9807/DW9817 or AK7375 on an I2C bus.

    ``bus`` is the bus number, or ``None`` to find it (see :func:`find_buses`). ``limits``
    narrows the chip's range (some vendor examples keep to 100-1000). ``position`` is the
    last known position (the plugin stores it), used until the first move and by
    ``reapply()``. ``bus_factory``, ``dev_dir`` and ``sleep`` exist for tests.
    """

    driver = "i2c"
    units = "code"

    def __init__(self, bus: Optional[int] = None, address: int = DEFAULT_ADDRESS, chip: str = "dw9714",
                 force: bool = False, position: Optional[int] = None,
                 limits: Optional[Tuple[int, int]] = None, backlash: Optional[Number] = None,
                 bus_factory: Optional[BusFactory] = None, dev_dir: str = "/dev", tries: int = 5,
                 retry_delay: float = 0.02, sleep: Callable[[float], None] = time.sleep) -> None:
        self.chip = get_chip(chip)
        self.address = _check_address(address)
        self.force = bool(force)
        self.tries = max(1, int(tries))
        self.retry_delay = float(retry_delay)
        self._sleep = sleep
        self._factory = bus_factory or smbus_factory(dev_dir)
        self._lock = threading.Lock()
        self._awake = False
        self.name = self.chip.name.upper()
        self.limits = self._check_chip_limits(limits)
        self.resolution = 1
        self.backlash = backlash
        #: Every bus looked at while finding the lens (empty when ``bus`` was given).
        self.candidates: List[Dict[str, Any]] = []
        if bus is None:
            bus = self._detect(dev_dir)
        self.bus_number = check_bus(bus)
        self.device = bus_path(self.bus_number, dev_dir)
        try:
            self._bus = _open_bus(self._factory, self.bus_number, self.force)
        except OSError as exc:
            raise LensError(explain_oserror(exc, self.device, self.address)) from None
        self.position_known = position is not None
        self._position = int(self.checked(position)) if position is not None else self._initial_position()

    # ~~ set-up

    def _check_chip_limits(self, limits: Optional[Tuple[int, int]]) -> Tuple[int, int]:
        if limits is None:
            return (0, self.chip.maximum)
        low, high = check_limits(limits, "lens limits")
        if int(low) != low or int(high) != high or low < 0 or high > self.chip.maximum:
            raise ValueError(f"The {self.name} limits must be whole codes within 0..{self.chip.maximum}; "
                             f"got {limits!r}")
        return int(low), int(high)

    def _detect(self, dev_dir: str) -> int:
        self.candidates = scan(self.address, dev_dir, self._factory, self.force, self.chip.name)
        for entry in self.candidates:
            if entry["found"]:
                return entry["bus"]
        if not self.candidates:
            raise LensError("i2c.no_buses", dir=dev_dir)
        tried = "; ".join(f"{e['device']}: {_short(e['message'])}" for e in self.candidates)
        raise LensError("i2c.no_answer_any", address=f"{self.address:02X}", tried=tried,
                        hint=Message("i2c.hint.no_answer"))

    def _initial_position(self) -> int:
        """The chip's own register if it can be read (camera streaming), else its rest position."""
        try:
            with self._lock:
                value = self.chip.read(self._bus, self.address)
        except (OSError, LensError):
            return self.chip.idle
        self.position_known = True
        return min(max(value, self.limits[0]), self.limits[1])

    @property
    def where(self) -> str:
        return say("i2c.where", chip=self.name, address=f"{self.address:02X}", path=self.device)

    # ~~ moves

    def move_to(self, position: Number) -> None:
        value = self.checked(position)
        if int(value) != value:
            raise MoveRefused("i2c.whole_codes", where=text_of(self.where), value=format_number(value))
        self._send(int(value))

    def reapply(self) -> bool:
        """Send the last position again, waking the chip first (it forgets both when unpowered).

        Returns False, sending nothing, while no position is known (no move yet, none given).
        """
        if not self.position_known:
            return False
        with self._lock:
            self._awake = False
        self._send(int(self._position))
        return True

    def _send(self, value: int) -> None:
        with self._lock:
            if self._bus is None:
                raise LensError("i2c.closed", where=text_of(self.where))
            try:
                if not self._awake:
                    self._retry(lambda: self.chip.wake(self._bus, self.address), Message("i2c.doing.wake"))
                    self._awake = True
                self._retry(lambda: self.chip.write(self._bus, self.address, value, self._sleep),
                            Message("i2c.doing.move", position=value))
            except LensError:
                self._awake = False  # the chip may have lost power: wake it again next time
                raise
            self._position = value
            self.position_known = True
            self._moved()

    def _retry(self, call: Callable[[], Any], doing: Message) -> Any:
        """``call()``, retried on transient errors; any final error as a :class:`LensError`."""
        for attempt in range(1, self.tries + 1):
            try:
                return call()
            except OSError as exc:
                if exc.errno in TRANSIENT_ERRNOS and attempt < self.tries:
                    self._sleep(self.retry_delay * attempt)
                    continue
                message = explain_oserror_message(exc, self.device, self.address, doing)
                if attempt > 1:
                    message = Message("i2c.tried", message=message, count=attempt)
                raise LensError(message) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # ~~ reporting

    def read_position(self) -> int:
        """The position the chip reports (needs the camera streaming)."""
        with self._lock:
            return self._retry(lambda: self.chip.read(self._bus, self.address), "reading the position ")

    def probe(self) -> Dict[str, Any]:
        try:
            current: Optional[int] = self.read_position()
            message = "answers"
        except LensError as exc:
            current, message = None, str(exc)
        return probe_entry(self.driver, self.device, found=current is not None, chip=self.name.lower(),
                           limits=self.limits, resolution=self.resolution, units=self.units,
                           position=current if current is not None else self._position,
                           message=message, bus=self.bus_number, address=self.address,
                           candidates=list(self.candidates))

    def close(self) -> None:
        with self._lock:
            bus, self._bus = self._bus, None
        if bus is not None:
            bus.close()


def _check_address(address: Any) -> int:
    if isinstance(address, str):
        try:
            address = int(address, 0)
        except ValueError:
            raise ValueError(f"The I2C address must be a number like 0x0C; got {address!r}") from None
    if isinstance(address, bool) or not isinstance(address, int) or not 0x03 <= address <= 0x77:
        raise ValueError(f"The I2C address must be between 0x03 and 0x77; got {address!r}")
    return address


def _short(message: str) -> str:
    """The first sentence of a message, for lists of candidates."""
    return message.split(". ")[0].rstrip(".")


def parse_address(text: str) -> int:
    """``0x0C``, ``12`` or ``0o14`` as an I2C address (for the command line)."""
    return _check_address(text)

