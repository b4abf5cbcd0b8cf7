"""A recording I2C world at the smbus2 level: buses, chips that decode what they receive.

Every smbus2 call the driver makes is turned into what would travel on the wire (a write
of some bytes, a read of some bytes, both for a register read) and handed to a chip
model at that address. The models decode those bytes back into a lens position exactly
as the datasheets define them, so a test can assert both the bytes and their meaning.

The models are independent of the driver's encoders on purpose: a wrong shift in the
driver shows up as a wrong decoded position here.
"""
from __future__ import annotations

import ctypes
import errno
import os
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

I2C_M_RD = 0x0001


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


# ~~ chip models

class ChipModel:
    """A device at one address: takes raw writes, answers raw reads, logs both."""

    def __init__(self) -> None:
        self.powered = True
        #: ("w", bytes) / ("r", length) as seen on the wire, in order.
        self.wire: List[Tuple[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        """Power-on state."""

    def power_cycle(self) -> None:
        """The camera stopped and started again: the chip forgot everything."""
        self.reset()

    def writes(self) -> List[bytes]:
        return [data for kind, data in self.wire if kind == "w"]

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, length: int) -> bytes:
        raise NotImplementedError


class DW9714Model(ChipModel):
    """Two bytes, no register: PD(15) FLAG(14) D9..D0(13..4) S3..S0(3..0)."""

    def reset(self) -> None:
        self.position = 0
        self.raw = b"\x00\x00"
        self.malformed: List[bytes] = []

    def write(self, data: bytes) -> None:
        if len(data) != 2 or data[0] & 0xC0:
            self.malformed.append(bytes(data))  # power-down/flag bits or wrong length
            return
        self.raw = bytes(data)
        self.position = (((data[0] << 8) | data[1]) >> 4) & 0x3FF

    def read(self, length: int) -> bytes:
        return (self.raw * length)[:length]


class RegisterModel(ChipModel):
    """A chip with a register pointer that auto-increments, as DW9807 and AK7375 have."""

    def reset(self) -> None:
        self.registers: Dict[int, int] = {}
        self.pointer = 0

    def write(self, data: bytes) -> None:
        self.pointer = data[0]
        for offset, value in enumerate(data[1:]):
            self.store(self.pointer + offset, value)

    def store(self, register: int, value: int) -> None:
        self.registers[register] = value

    def read(self, length: int) -> bytes:
        return bytes(self.load(self.pointer + i) for i in range(length))

    def load(self, register: int) -> int:
        return self.registers.get(register, 0)


class DW9807Model(RegisterModel):
    """CTL 0x02 (0 active, 1 power-down), MSB 0x03, LSB 0x04, STATUS 0x05 (busy after a move).

    The position changes when the LSB lands, only while active. A move stays busy for
    ``busy_polls`` status reads. ``violations`` lists interleaved transactions: a status
    poll or position write by one thread while another thread's poll-then-write is open.
    """

    CTL, MSB, LSB, STATUS = 0x02, 0x03, 0x04, 0x05

    def __init__(self, busy_polls: int = 0, op_delay: float = 0.0) -> None:
        self.busy_polls = busy_polls
        self.op_delay = op_delay
        self.violations: List[str] = []
        self._open: Optional[int] = None
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self.registers[self.CTL] = 0x01  # powered down until told otherwise
        self.position = 0
        self.busy_left = 0
        self.writes_while_busy = 0
        self.ignored_while_down = 0

    @property
    def active(self) -> bool:
        return self.registers.get(self.CTL) == 0x00

    def _transaction(self, starting: bool) -> None:
        me = threading.get_ident()
        if self._open not in (None, me):
            self.violations.append(f"thread {me} interleaved with thread {self._open}")
        self._open = me if starting else None
        if self.op_delay:
            time.sleep(self.op_delay)

    def write(self, data: bytes) -> None:
        if data[0] == self.MSB:
            self._transaction(starting=False)
            if self.busy_left:
                self.writes_while_busy += 1
        super().write(data)

    def store(self, register: int, value: int) -> None:
        super().store(register, value)
        if register == self.LSB:
            if self.active:
                self.position = ((self.registers.get(self.MSB, 0) & 0x03) << 8) | value
                self.busy_left = self.busy_polls
            else:
                self.ignored_while_down += 1

    def load(self, register: int) -> int:
        if register == self.STATUS:
            self._transaction(starting=True)
            if self.busy_left:
                self.busy_left -= 1
                return 0x01
            return 0x00
        return super().load(register)


class AK7375Model(RegisterModel):
    """Position register 0x00 (two bytes, MSB first, pos<<4); CTL 0x02: 0x00 active, 0x40 standby."""

    def reset(self) -> None:
        super().reset()
        self.registers[0x02] = 0x40
        self.position = 0
        self.ignored_while_standby = 0

    def store(self, register: int, value: int) -> None:
        super().store(register, value)
        if register == 0x01:
            if self.registers.get(0x02) == 0x00:
                self.position = ((self.registers.get(0x00, 0) << 8) | value) >> 4
            else:
                self.ignored_while_standby += 1


# ~~ the world and its buses

class FakeI2C:
    """Buses, the devices on them, and faults to inject.

    ``factory`` stands in for ``smbus2.SMBus``. With ``dev_dir`` set, each bus added also
    gets an empty ``i2c-N`` file there, for the driver's bus discovery.
    """

    def __init__(self, dev_dir: Optional[str] = None) -> None:
        self.dev_dir = dev_dir
        self.buses: Dict[int, Dict[int, ChipModel]] = {}
        self.denied: Set[int] = set()
        self.claimed: Set[Tuple[int, int]] = set()
        self.faults: Deque[int] = deque()
        #: Every transfer attempted, including failed ones: (bus, address, kind, data).
        self.attempts: List[Tuple[int, int, str, Any]] = []
        self.opened: List[Tuple[int, bool]] = []
        self.closed = 0

    def add_bus(self, number: int, devices: Optional[Dict[int, ChipModel]] = None) -> None:
        self.buses[number] = dict(devices or {})
        if self.dev_dir:
            open(os.path.join(self.dev_dir, f"i2c-{number}"), "w").close()

    def fail(self, code: int, times: int = 1) -> None:
        """The next ``times`` transfers fail with ``code``."""
        self.faults.extend([code] * times)

    def factory(self, number: int, force: bool = False) -> "FakeSMBus":
        if number in self.denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"/dev/i2c-{number}")
        if number not in self.buses:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), f"/dev/i2c-{number}")
        self.opened.append((number, force))
        return FakeSMBus(self, number, force)


class FakeSMBus:
    """The smbus2.SMBus methods the driver uses, as wire transfers to the chip models."""

    def __init__(self, world: FakeI2C, number: int, force: bool) -> None:
        self.world = world
        self.number = number
        self.force = force
        self.is_open = True

    def _device(self, address: int, kind: str, data: Any, smbus: bool = True) -> ChipModel:
        self.world.attempts.append((self.number, address, kind, data))
        if not self.is_open:
            raise _err(errno.EBADF)
        if smbus and (self.number, address) in self.world.claimed and not self.force:
            raise _err(errno.EBUSY)  # I2C_SLAVE on an address a kernel driver holds
        if self.world.faults:
            raise _err(self.world.faults.popleft())
        device = self.world.buses[self.number].get(address)
        if device is None or not device.powered:
            raise _err(errno.EREMOTEIO)  # nobody acknowledged the address
        return device

    def _write(self, address: int, data: bytes, smbus: bool = True) -> None:
        device = self._device(address, "w", bytes(data), smbus)
        device.wire.append(("w", bytes(data)))
        device.write(bytes(data))

    def _read(self, address: int, register: Optional[int], length: int, smbus: bool = True) -> bytes:
        device = self._device(address, "r", (register, length), smbus)
        if register is not None:
            device.wire.append(("w", bytes([register])))
            device.write(bytes([register]))
        device.wire.append(("r", length))
        return device.read(length)

    # smbus2 API
    def read_byte(self, i2c_addr: int, force: Optional[bool] = None) -> int:
        return self._read(i2c_addr, None, 1)[0]

    def read_byte_data(self, i2c_addr: int, register: int, force: Optional[bool] = None) -> int:
        return self._read(i2c_addr, register, 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: Optional[bool] = None) -> None:
        self._write(i2c_addr, bytes([register, value]))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: Optional[bool] = None) -> List[int]:
        return list(self._read(i2c_addr, register, length))

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: List[int], force: Optional[bool] = None) -> None:
        self._write(i2c_addr, bytes([register] + list(data)))

    def i2c_rdwr(self, *msgs: Any) -> None:
        for msg in msgs:  # I2C_RDWR needs no I2C_SLAVE: a claimed address does not matter
            if msg.flags & I2C_M_RD:
                data = self._read(msg.addr, None, msg.len, smbus=False)
                ctypes.memmove(msg.buf, data, msg.len)
            else:
                self._write(msg.addr, bytes(msg), smbus=False)

    def close(self) -> None:
        if self.is_open:
            self.world.closed += 1
        self.is_open = False
