"""The V4L2 focus_absolute driver against fake nodes at the ioctl layer."""
from __future__ import annotations

import errno

import pytest
from fakes.fake_v4l2 import FLAG_GRABBED, FOCUS_ABSOLUTE, FOCUS_AUTO, INTEGER, Control, FakeNode, FakeV4L2

from octoprint_pifocus.errors import LensError, MoveRefused
from octoprint_pifocus.focus.protocols import Lens
from octoprint_pifocus.lenses import V4L2Lens, open_lens, probe_all
from octoprint_pifocus.lenses.v4l2 import NodeOpener


@pytest.fixture
def v4l2(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    return FakeV4L2(str(dev))


@pytest.fixture
def sys_dir(tmp_path):
    path = tmp_path / "sys"
    (path / "v4l-subdev0").mkdir(parents=True)
    (path / "v4l-subdev0" / "name").write_text("dw9807 10-000c\n")
    return str(path)


def test_auto_focus_goes_off_before_the_absolute_position(v4l2):
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(**v4l2.options())
    assert (lens.limits, lens.resolution, lens.name) == ((0, 250), 5, "HD Pro Webcam C920")
    lens.move_to(120)
    sets = [entry for entry in cam.log if entry[0] == "set"]
    assert sets == [("set", "focus_auto", 0), ("set", "focus_absolute", 120)]
    assert cam.lens == 120 and cam.ignored == []
    assert not cam.controls[FOCUS_ABSOLUTE].flags & 0x10      # no longer inactive


def test_auto_focus_switched_back_on_by_someone_else_is_switched_off_again(v4l2):
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(device=v4l2.dev_dir + "/video0", **v4l2.options())
    lens.move_to(100)
    cam.controls[FOCUS_AUTO].value = 1
    cam._sync_inactive()
    lens.move_to(150)
    assert cam.lens == 150 and cam.ignored == []


def test_positions_are_rounded_to_the_step_and_range_refused_before_the_kernel_clamps(v4l2):
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(**v4l2.options())
    lens.move_to(123)
    assert lens.position == 125 and cam.lens == 125
    before = list(cam.log)
    for bad in (255, -5, "near"):
        with pytest.raises(MoveRefused, match="nothing was moved|Nothing was moved"):
            lens.move_to(bad)
    assert cam.log == before                  # refused without an ioctl
    # What the driver protects against: the kernel itself would have clamped 255 to 250.
    assert cam.controls[FOCUS_ABSOLUTE].validate(255) == 250


def test_a_maximum_off_the_step_grid_rounds_to_the_last_step(v4l2):
    cam = v4l2.add("video0", FakeNode([Control(FOCUS_ABSOLUTE, "Focus, Absolute", INTEGER, 0, 255, 2, 0)]))
    lens = V4L2Lens(**v4l2.options())
    lens.move_to(255)
    assert lens.position == 254 == cam.lens
    lens.move_to(7)
    assert lens.position == 8 == cam.lens
    lens.move_to(5)                          # halves round up, as the kernel rounds
    assert lens.position == 6 == cam.lens


def test_subdev_lens_driver_found_with_its_kernel_name(v4l2, sys_dir):
    v4l2.add("video0", FakeNode.without_focus())
    sub = v4l2.add("v4l-subdev0", FakeNode.subdev_dw9807())
    lens = V4L2Lens(sys_dir=sys_dir, **v4l2.options())
    assert lens.device.endswith("/v4l-subdev0")
    assert (lens.name, lens.limits, lens.resolution) == ("dw9807 10-000c", (0, 1023), 1)
    lens.move_to(1023)
    assert sub.lens == 1023
    info = lens.probe()
    assert (info["driver"], info["found"], info["position"], info["auto_focus"]) == ("v4l2", True, 1023, None)


def test_probe_all_lists_only_nodes_with_focus_absolute(v4l2, sys_dir):
    v4l2.add("video0", FakeNode.uvc_c920()).controls[FOCUS_ABSOLUTE].value = 40
    v4l2.add("video1", FakeNode.without_focus())
    v4l2.add("v4l-subdev0", FakeNode.subdev_dw9807())
    v4l2.add("video2", FakeNode.without_focus())
    v4l2.denied.add("video2")
    entries = probe_all(dev_dir=v4l2.dev_dir, url=None, sys_dir=sys_dir,
                        v4l2_opener=NodeOpener(v4l2.open, v4l2.ioctl, v4l2.close))
    summary = [(e["device"].rsplit("/", 1)[1], e["found"], e["chip"], e["limits"], e["position"]) for e in entries]
    assert summary == [
        ("video0", True, "HD Pro Webcam C920", [0, 250], 40),
        ("video2", False, None, None, None),
        ("v4l-subdev0", True, "dw9807 10-000c", [0, 1023], 0),
    ]
    assert "video group" in entries[1]["message"]
    assert v4l2.open_count == 0


def test_equal_value_quirk_and_reapply(v4l2):
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(**v4l2.options())
    lens.move_to(100)
    cam.power_cycle()                       # the lens lost it; the control still says 100
    lens.move_to(100)
    assert cam.lens == 0                    # the kernel skipped the equal value
    lens.reapply()
    assert cam.lens == 100
    assert [v for op, name, v in cam.log if op == "set" and name == "focus_absolute"][-2:] == [105, 100]


def test_reapply_at_the_top_steps_down_first(v4l2):
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(**v4l2.options())
    lens.move_to(250)
    cam.power_cycle()
    lens.reapply()
    assert cam.lens == 250
    assert [v for op, name, v in cam.log if op == "set" and name == "focus_absolute"][-2:] == [245, 250]


def test_a_video_node_without_focus_points_at_the_subdev(v4l2):
    v4l2.add("video0", FakeNode.without_focus())
    with pytest.raises(LensError) as info:
        V4L2Lens(device=v4l2.dev_dir + "/video0", **v4l2.options())
    message = str(info.value)
    assert message.startswith(f"{v4l2.dev_dir}/video0 has no focus_absolute control.")
    assert "/dev/v4l-subdevN" in message
    assert v4l2.open_count == 0


def test_permission_denied_names_the_video_group(v4l2):
    v4l2.add("video0", FakeNode.uvc_c920())
    v4l2.denied.add("video0")
    with pytest.raises(LensError, match=r"Permission denied opening .*/video0: add .* to the video group"):
        V4L2Lens(device=v4l2.dev_dir + "/video0", **v4l2.options())


def test_a_grabbed_control_names_device_and_control(v4l2):
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(**v4l2.options())
    cam.controls[FOCUS_ABSOLUTE].flags |= FLAG_GRABBED
    with pytest.raises(LensError, match=r"/video0 refused setting 120 on focus_absolute: another program"):
        lens.move_to(120)


def test_an_unplugged_camera_is_reported(v4l2):
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(**v4l2.options())

    def gone(request, buf):
        raise OSError(errno.ENODEV, "No such device")

    cam.handle = gone
    with pytest.raises(LensError, match=r"focus_automatic_continuous on .*/video0 failed.*still connected"):
        lens.move_to(50)


def test_no_focus_device_at_all(v4l2):
    v4l2.add("video0", FakeNode.without_focus())
    with pytest.raises(LensError, match=r"No V4L2 device with focus_absolute found"):
        V4L2Lens(**v4l2.options())


def test_factory_close_releases_the_node(v4l2):
    v4l2.add("video0", FakeNode.uvc_c920())
    lens = open_lens("v4l2", **v4l2.options())
    assert v4l2.open_count == 1 and isinstance(lens, Lens)
    with lens:
        assert lens.position == 0 and lens.units == "code"
    assert v4l2.open_count == 0
    with pytest.raises(LensError, match="closed"):
        lens.move_to(10)
