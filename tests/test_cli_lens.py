"""``pifocus lens``: probe, set and nudge, in-process and as a real subprocess."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.camera_streamer_server import CameraStreamerServer

from octoprint_pifocus.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def streamer():
    server = CameraStreamerServer()
    yield server
    server.stop()


@pytest.fixture
def nothing_here(tmp_path):
    """An empty device folder and a URL where nothing listens: a machine without devices."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return ["--dev-dir", str(tmp_path), "--url", f"http://127.0.0.1:{port}"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_probe_without_devices_says_so_in_one_line(capsys, nothing_here, tmp_path):
    code, out, err = run(capsys, "lens", "probe", *nothing_here)
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"No focus devices found: no I2C buses or V4L2 nodes in {tmp_path}, "
        f"and no camera-streamer at {nothing_here[-1]}."
    ]


def test_probe_as_a_subprocess(nothing_here):
    result = subprocess.run([sys.executable, "-m", "octoprint_pifocus", "lens", "probe", *nothing_here],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 1 and result.stdout.startswith("No focus devices found")


def test_probe_lists_camera_streamer_and_unanswered_i2c_buses(capsys, streamer, tmp_path):
    (tmp_path / "i2c-10").touch()         # a bus node that cannot be opened as a bus: reported, not fatal
    code, out, err = run(capsys, "lens", "probe", "--dev-dir", str(tmp_path), "--url", streamer.url)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "Focus devices:"
    assert lines[1].startswith(f"  camera-streamer {streamer.url}  libcamera LensPosition  range 0..12 dioptres"
                               "  current unknown")
    assert lines[2] == "Also looked at:"
    assert lines[3] == f"  i2c             {tmp_path}/i2c-10: {tmp_path}/i2c-10 is not an I2C bus device (the I2C ioctls failed on it)."


def test_set_through_camera_streamer(capsys, streamer):
    code, out, err = run(capsys, "lens", "set", "2.5", "--driver", "camera-streamer", "--url", streamer.url)
    assert (code, err) == (0, "")
    assert out == f"LensPosition of camera-streamer at {streamer.url} (range 0..12 dioptres): 2.5\n"
    assert streamer.options == {"AfMode": "manual", "LensPosition": "2.5"}


def test_set_with_a_bad_value_exits_non_zero_with_one_line(capsys, streamer):
    code, out, err = run(capsys, "lens", "set", "14", "--driver", "camera-streamer", "--url", streamer.url)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"pifocus: error: Position 14 is outside the range 0..12 dioptres of LensPosition of "
        f"camera-streamer at {streamer.url}; nothing was moved."
    ]
    assert streamer.requests == []
    code, out, err = run(capsys, "lens", "set", "far", "--driver", "simulated")
    assert code == 1 and err == "pifocus: error: VALUE must be a number, e.g. 512 or 2.5; got 'far'\n"


def test_bad_value_as_a_subprocess_has_no_traceback():
    result = subprocess.run([sys.executable, "-m", "octoprint_pifocus", "lens", "set", "5000", "--driver", "simulated"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "python -m octoprint_pifocus: error: Position 5000 is outside the lens range 0..1023; nothing was moved."
    ]


def test_nudge_moves_from_the_current_position_and_clamps_at_the_end(capsys):
    code, out, _ = run(capsys, "lens", "nudge", "-12", "--driver", "simulated")
    assert (code, out) == (0, "simulated VCM (range 0..1023 codes): 512 -> 500\n")
    code, out, _ = run(capsys, "lens", "nudge", "600", "--driver", "simulated")
    assert (code, out) == (0, "simulated VCM (range 0..1023 codes): 512 -> 1023 (stopped at the end of the range)\n")
    code, out, err = run(capsys, "lens", "nudge", "600", "--no-clamp", "--driver", "simulated")
    assert code == 1 and "Position 1112 is outside the lens range 0..1023" in err


def test_nudge_needs_a_known_position(capsys, streamer):
    code, _, err = run(capsys, "lens", "nudge", "0.5", "--driver", "camera-streamer", "--url", streamer.url)
    assert code == 1
    assert "current position of LensPosition of camera-streamer" in err and "set an absolute position first" in err
    assert streamer.sets() == []


def test_options_of_another_driver_are_errors(capsys):
    code, _, err = run(capsys, "lens", "set", "10", "--driver", "v4l2", "--bus", "10")
    assert code == 1 and err == "pifocus: error: --bus is an option of the i2c driver, not of v4l2\n"


def test_missing_hardware_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "lens", "set", "10", "--driver", "i2c", "--dev-dir", str(tmp_path))
    assert code == 1 and len(err.splitlines()) == 1 and "No I2C buses (i2c-N) in" in err
    code, _, err = run(capsys, "lens", "set", "10", "--driver", "i2c", "--bus", "10", "--dev-dir", str(tmp_path))
    assert code == 1 and f"{tmp_path}/i2c-10 does not exist" in err
    code, _, err = run(capsys, "lens", "nudge", "10", "--driver", "v4l2", "--dev-dir", str(tmp_path))
    assert code == 1 and "No V4L2 device with focus_absolute found" in err


def test_driver_is_required_and_addresses_are_checked(capsys):
    with pytest.raises(SystemExit) as info:
        main(["lens", "set", "10"])
    assert info.value.code == 2 and "--driver" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lens", "set", "10", "--driver", "i2c", "--address", "0x99"])
    assert "between 0x03 and 0x77" in capsys.readouterr().err


@pytest.mark.parametrize("bus", ["-1", "256", "99999999999999999999", "ten"])
def test_a_negative_or_absurd_bus_is_refused_with_what_is_accepted(capsys, bus):
    with pytest.raises(SystemExit) as info:
        main(["lens", "set", "10", "--driver", "i2c", "--bus", bus])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "does not exist" not in err
    assert "The I2C bus must be a whole number 0..255 (the N of /dev/i2c-N)" in err


def test_the_driver_refuses_a_negative_bus_too():
    from octoprint_pifocus.lenses import I2CVCMLens

    with pytest.raises(ValueError, match=r"whole number 0\.\.255 .*got -1"):
        I2CVCMLens(bus=-1, bus_factory=lambda *a, **k: pytest.fail("nothing may be opened"))


@pytest.mark.parametrize("device", ["/dev/../etc/passwd", "/etc/passwd", "{dev}/../../etc/passwd",
                                    "{dev}/sda", "{dev}/v4l/by-id/missing-link", "{dev}/link-to-passwd"])
def test_v4l2_device_must_be_a_video_node_after_resolving(capsys, tmp_path, device):
    dev = tmp_path / "dev"
    (dev / "v4l" / "by-id").mkdir(parents=True)
    (dev / "sda").touch()
    (dev / "link-to-passwd").symlink_to("/etc/passwd")
    code, out, err = run(capsys, "lens", "set", "10", "--driver", "v4l2", "--device", device.format(dev=dev),
                         "--dev-dir", str(dev))
    assert code == 1 and out == ""
    assert err.startswith("pifocus: error: The V4L2 device must be a node /dev/videoN or /dev/v4l-subdevN, "
                          "or a link to one (such as udev's /dev/v4l/by-id/...);")


def test_a_udev_link_to_a_video_node_is_followed(tmp_path):
    from fakes.fake_v4l2 import FakeNode, FakeV4L2
    from octoprint_pifocus.lenses import V4L2Lens

    dev = tmp_path / "dev"
    (dev / "v4l" / "by-id").mkdir(parents=True)
    fake = FakeV4L2(str(dev))
    fake.add("video0", FakeNode.uvc_c920())
    link = dev / "v4l" / "by-id" / "usb-046d_HD_Pro_Webcam_C920-video-index0"
    link.symlink_to("../../video0")
    with V4L2Lens(device=str(link), **fake.options()) as lens:
        assert lens.device == str(link) and lens.limits == (0, 250)


def test_credentials_in_a_camera_streamer_url_are_masked_on_the_command_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://cam:CLISECRET@127.0.0.1:{port}"
    for argv in (["lens", "set", "2", "--driver", "camera-streamer", "--url", url],
                 ["lens", "probe", "--url", url, "--dev-dir", "/nonexistent"]):
        code, out, err = run(capsys, *argv)
        assert "CLISECRET" not in out + err and f"cam:***@127.0.0.1:{port}" in out + err, out + err


@pytest.mark.parametrize("value", ["nan", "inf", "Infinity", "NaN"])
def test_set_and_nudge_refuse_values_that_are_not_finite(capsys, value):
    code, out, err = run(capsys, "lens", "set", value, "--driver", "simulated")
    assert code == 1 and out == ""
    assert err == f"pifocus: error: VALUE must be a finite number, e.g. 512 or 2.5; got {value!r}\n"
    code, out, err = run(capsys, "lens", "nudge", value, "--driver", "simulated")
    assert code == 1 and err == f"pifocus: error: DELTA must be a finite number, e.g. 512 or 2.5; got {value!r}\n"


@pytest.mark.parametrize("value, words", [
    ("inf", "--timeout must be a finite number"),
    ("nan", "--timeout must be a finite number"),
    ("1e300", "--timeout must be at most 3600"),
    ("0", "--timeout must be more than 0"),
])
def test_probe_timeout_must_be_a_finite_positive_number(capsys, nothing_here, value, words):
    with pytest.raises(SystemExit) as exit_:
        main(["lens", "probe", *nothing_here, "--timeout", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
