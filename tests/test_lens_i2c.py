"""The I2C voice-coil driver against a recording fake bus that decodes the bytes per chip."""
from __future__ import annotations

import errno
import threading

import pytest
from fakes.fake_smbus import AK7375Model, DW9714Model, DW9807Model, FakeI2C

from octoprint_pifocus.errors import LensError, MoveRefused
from octoprint_pifocus.focus.protocols import Lens
from octoprint_pifocus.lenses import I2CVCMLens, open_lens, probe_all
from octoprint_pifocus.lenses.i2c_vcm import find_buses


@pytest.fixture
def world(tmp_path):
    return FakeI2C(dev_dir=str(tmp_path))


def make_lens(world, chip_model, bus=10, **options):
    world.add_bus(bus, {0x0C: chip_model})
    options.setdefault("sleep", world_sleeps(world))
    return I2CVCMLens(bus=bus, chip=options.pop("chip", "dw9714"), bus_factory=world.factory,
                      dev_dir=world.dev_dir, **options)


def world_sleeps(world):
    world.sleeps = []
    return world.sleeps.append


# ~~ the bytes on the wire, per chip

@pytest.mark.parametrize("position, expected", [
    (0, b"\x00\x00"),
    (1, b"\x00\x10"),       # pos<<4 = 0x0010
    (300, b"\x12\xC0"),     # 300<<4 = 0x12C0
    (512, b"\x20\x00"),     # 512<<4 = 0x2000
    (1023, b"\x3F\xF0"),    # 1023<<4 = 0x3FF0
])
def test_dw9714_writes_the_vendor_bytes(world, position, expected):
    chip = DW9714Model()
    lens = make_lens(world, chip)
    lens.move_to(position)
    assert chip.writes()[-1] == expected
    assert chip.position == position
    assert chip.malformed == []
    assert lens.position == position


def test_dw9807_wakes_once_polls_busy_and_writes_msb_lsb_in_one_transfer(world):
    chip = DW9807Model(busy_polls=3)
    lens = make_lens(world, chip, chip="dw9807")
    assert chip.wire == [("w", b"\x03"), ("r", 2)]   # position read back at open: MSB, LSB
    chip.wire.clear()
    lens.move_to(700)                     # 700 = 0x2BC
    lens.move_to(5)
    assert chip.writes() == [
        b"\x02\x00",                      # CTL: active, once
        b"\x05", b"\x03\x02\xBC",         # status (idle), then MSB 0x02 + LSB 0xBC
        b"\x05", b"\x05", b"\x05", b"\x05", b"\x03\x00\x05",  # 3 busy polls, 1 idle, write
    ]
    assert chip.position == 5
    assert chip.writes_while_busy == 0


def test_dw9807_that_never_gets_ready_is_reported(world):
    chip = DW9807Model(busy_polls=1000)
    lens = make_lens(world, chip, chip="dw9807")
    lens.move_to(100)
    with pytest.raises(LensError, match=r"stayed busy.*status register 0x05"):
        lens.move_to(200)
    assert chip.position == 100
    assert chip.writes_while_busy == 0


def test_ak7375_twelve_bits_msb_first(world):
    chip = AK7375Model()
    lens = make_lens(world, chip, chip="ak7375")
    assert lens.limits == (0, 4095)
    chip.wire.clear()
    lens.move_to(4095)
    lens.move_to(2048)
    assert chip.writes() == [b"\x02\x00", b"\x00\xFF\xF0", b"\x00\x80\x00"]
    assert chip.position == 2048


def test_dw9817_rests_at_512_until_moved(world):
    chip = DW9807Model()
    chip.powered = False          # camera not streaming: nothing to read back at open
    lens = make_lens(world, chip, chip="dw9817")
    assert lens.position == 512 and lens.position_known is False
    assert lens.reapply() is False
    assert chip.writes() == []


def test_position_is_read_back_from_the_chip_at_open(world):
    chip = DW9714Model()
    chip.write(b"\x12\xC0")       # left at 300 by an earlier session
    lens = make_lens(world, chip)
    assert lens.position == 300 and lens.position_known
    assert lens.probe()["position"] == 300


# ~~ refusals: nothing reaches the bus

@pytest.mark.parametrize("bad", [1024, -1, 512.5, "512", None, True, float("nan")])
def test_bad_positions_are_refused_before_any_transfer(world, bad):
    chip = DW9714Model()
    lens = make_lens(world, chip)
    sent_before = list(chip.wire)
    with pytest.raises(MoveRefused) as info:
        lens.move_to(bad)
    assert chip.wire == sent_before
    assert "Nothing was moved" in str(info.value) or "nothing was moved" in str(info.value)


def test_narrowed_limits_refuse_with_the_range_and_device_named(world):
    lens = make_lens(world, DW9714Model(), limits=(100, 1000))
    with pytest.raises(MoveRefused, match=r"outside the range 100\.\.1000 codes of DW9714 at 0x0C on .*i2c-10"):
        lens.move_to(50)
    lens.move_to(1000)
    assert lens.position == 1000


def test_whole_float_positions_are_taken(world):
    chip = DW9714Model()
    lens = make_lens(world, chip)
    lens.move_to(256.0)
    assert chip.position == 256 and lens.position == 256 and isinstance(lens.position, int)


# ~~ errors

def test_transient_errors_are_retried(world):
    chip = DW9714Model()
    lens = make_lens(world, chip)
    world.fail(errno.EREMOTEIO)
    world.fail(errno.EIO)
    lens.move_to(640)
    assert chip.position == 640
    assert len(world.sleeps) == 2          # two retries, each after a short wait


def test_a_lens_that_never_answers_gives_the_actionable_message(world):
    chip = DW9714Model()
    lens = make_lens(world, chip)
    chip.powered = False                  # webcam stopped: the VCM has no power
    attempts = len(world.attempts)
    with pytest.raises(LensError) as info:
        lens.move_to(100)
    assert str(info.value).startswith(
        "No lens driver answered at 0x0C on " + world.dev_dir + "/i2c-10. The lens is powered only "
        "while the camera streams: is the webcam running? On a Pi 3 try bus 0 with "
        "dtparam=i2c_vc=on; on a Pi 4/5, bus 10."
    )
    assert "(tried 5 times)" in str(info.value)
    assert len(world.attempts) - attempts == 5


def test_permission_denied_names_the_group_and_udev_rule(world):
    world.add_bus(10, {0x0C: DW9714Model()})
    world.denied.add(10)
    with pytest.raises(LensError) as info:
        I2CVCMLens(bus=10, bus_factory=world.factory, dev_dir=world.dev_dir)
    message = str(info.value)
    assert "Permission denied opening" in message and "i2c-10" in message
    assert "i2c group" in message and "udev rule" in message


def test_address_claimed_by_a_kernel_driver_needs_force(world):
    chip = DW9807Model()
    world.add_bus(10, {0x0C: chip})
    world.claimed.add((10, 0x0C))
    lens = I2CVCMLens(bus=10, chip="dw9807", bus_factory=world.factory, dev_dir=world.dev_dir)
    with pytest.raises(LensError, match=r"claimed by a kernel driver.*v4l2.*force"):
        lens.move_to(10)
    forced = I2CVCMLens(bus=10, chip="dw9807", force=True, bus_factory=world.factory, dev_dir=world.dev_dir)
    forced.move_to(10)
    assert chip.position == 10
    assert world.opened[-1] == (10, True)


def test_a_missing_bus_says_how_to_enable_it(world):
    with pytest.raises(LensError, match=r"i2c-3 does not exist.*dtparam=i2c_vc=on"):
        I2CVCMLens(bus=3, bus_factory=world.factory, dev_dir=world.dev_dir)


# ~~ finding the bus

def test_auto_detection_reports_every_candidate_and_picks_by_the_pi_order(world):
    for number in (3, 1, 22, 11, 0, 10):
        world.add_bus(number)
    world.buses[1][0x0C] = DW9714Model()
    world.buses[11][0x0C] = DW9714Model()
    lens = I2CVCMLens(bus_factory=world.factory, dev_dir=world.dev_dir)
    assert lens.bus_number == 11                       # 11 comes before 1 in the order 10, 0, 11, 1, 22
    assert [c["bus"] for c in lens.candidates] == [10, 0, 11, 1, 22, 3]
    assert [c["found"] for c in lens.candidates] == [False, False, True, True, False, False]
    assert "No lens driver answered at 0x0C" in lens.candidates[0]["message"]
    lens.move_to(77)
    assert world.buses[11][0x0C].position == 77 and world.buses[1][0x0C].position == 0
    assert world.closed >= 6                           # every probing handle was closed


def test_auto_detection_without_an_answer_lists_what_was_tried(world):
    world.add_bus(10)
    world.add_bus(1)
    with pytest.raises(LensError) as info:
        I2CVCMLens(bus_factory=world.factory, dev_dir=world.dev_dir)
    message = str(info.value)
    assert "i2c-10: No lens driver answered at 0x0C" in message and "i2c-1: No lens" in message
    assert "is the webcam running?" in message


def test_auto_detection_without_buses(world):
    with pytest.raises(LensError, match=r"No I2C buses .*dtparam=i2c_vc=on"):
        I2CVCMLens(bus_factory=world.factory, dev_dir=world.dev_dir)


def test_find_buses_ignores_other_files(tmp_path):
    for name in ("i2c-2", "i2c-10", "i2c-0", "i2c-x", "video0", "i2c-22"):
        (tmp_path / name).touch()
    assert find_buses(str(tmp_path)) == [10, 0, 22, 2]


def test_probe_all_lists_i2c_candidates_with_chip_and_current_value(world):
    chip = DW9714Model()
    chip.write(b"\x20\x00")
    world.add_bus(10, {0x0C: chip})
    world.add_bus(0)
    entries = probe_all(dev_dir=world.dev_dir, url=None, i2c_bus_factory=world.factory)
    assert [(e["device"].rsplit("/", 1)[1], e["found"]) for e in entries] == [("i2c-10", True), ("i2c-0", False)]
    assert entries[0]["chip"] == "dw9714" and entries[0]["chip_assumed"] is True
    assert entries[0]["limits"] == [0, 1023] and entries[0]["position"] == 512


# ~~ memory and the lock

def test_reapply_restores_the_position_after_a_power_cycle(world):
    chip = DW9807Model()
    lens = make_lens(world, chip, chip="dw9807")
    lens.move_to(400)
    chip.power_cycle()                    # stream restarted: chip powered down, position lost
    assert chip.position == 0 and not chip.active
    assert lens.reapply() is True
    assert chip.position == 400 and chip.ignored_while_down == 0
    assert chip.writes()[-3:] == [b"\x02\x00", b"\x05", b"\x03\x01\x90"]


def test_a_failed_move_wakes_the_chip_again_next_time(world):
    chip = DW9807Model()
    lens = make_lens(world, chip, chip="dw9807")
    lens.move_to(100)
    chip.powered = False
    with pytest.raises(LensError):
        lens.move_to(200)
    chip.powered = True
    chip.power_cycle()
    lens.move_to(300)
    assert chip.position == 300


def test_position_given_by_the_plugin_is_reapplied(world):
    chip = DW9714Model()
    lens = make_lens(world, chip, position=333)
    assert lens.position == 333
    lens.reapply()
    assert chip.position == 333


def test_concurrent_moves_do_not_interleave(world):
    chip = DW9807Model(busy_polls=1, op_delay=0.0005)
    lens = make_lens(world, chip, chip="dw9807", sleep=lambda s: None)
    targets = {n: [n * 100 + i for i in range(8)] for n in range(1, 5)}

    def mover(positions):
        for p in positions:
            lens.move_to(p)

    threads = [threading.Thread(target=mover, args=(p,)) for p in targets.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert chip.violations == []
    assert chip.writes_while_busy == 0
    assert chip.position == lens.position
    assert chip.position in {p[-1] for p in targets.values()}


def test_the_fake_catches_interleaving_without_a_lock(world):
    """The detector above can fail: two threads polling and writing on their own do interleave."""
    chip = DW9807Model(op_delay=0.002)
    world.add_bus(10, {0x0C: chip})
    barrier = threading.Barrier(2)

    def raw_move(value):
        bus = world.factory(10)
        barrier.wait()
        bus.read_byte_data(0x0C, 0x05)
        bus.write_i2c_block_data(0x0C, 0x03, [0, value])

    threads = [threading.Thread(target=raw_move, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert chip.violations


def test_open_lens_factory_and_close(world):
    world.add_bus(10, {0x0C: DW9714Model()})
    lens = open_lens("i2c", bus=10, address="0x0C", bus_factory=world.factory, dev_dir=world.dev_dir)
    assert (lens.name, lens.units, lens.resolution, lens.limits) == ("DW9714", "code", 1, (0, 1023))
    assert isinstance(lens, Lens)
    lens.close()
    assert world.closed == 1
    with pytest.raises(LensError, match="closed"):
        lens.move_to(1)


@pytest.mark.parametrize("options, message", [
    ({"chip": "dw1234"}, "Unknown lens driver chip 'dw1234'"),
    ({"address": 0x80}, "between 0x03 and 0x77"),
    ({"address": "twelve"}, "like 0x0C"),
    ({"limits": (0, 2000)}, "within 0..1023"),
])
def test_bad_configuration_is_a_value_error(world, options, message):
    world.add_bus(10, {0x0C: DW9714Model()})
    with pytest.raises(ValueError, match=message):
        I2CVCMLens(bus=10, bus_factory=world.factory, dev_dir=world.dev_dir, **options)
