"""``pifocus autofocus`` end to end: a Pi Camera Module 3 behind camera-streamer, faked on
127.0.0.1 by a real /option server whose LensPosition drives a simulated camera's
snapshots and stream, run as a real subprocess the way a user over ssh would."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fakes.camera_streamer_server import CameraStreamerServer
from octoprint_pifocus.sim import SimulatedCamera, draw_scene
from servers.camera_server import CameraServer, refused_url
from servers.frames import SimFrames

FOCUS_DIOPTRES = 4.3
BLUR_PER_DIOPTRE = 3.0  # px of blur per dioptre away from focus


class OptionLens:
    """The lens as the fake camera-streamer has it set: what the sensor would see."""

    def __init__(self, server: CameraStreamerServer) -> None:
        self.server = server

    @property
    def position(self) -> float:
        return float(self.server.options.get("LensPosition", 0.0))


@pytest.fixture()
def rig():
    streamer = CameraStreamerServer()
    camera = SimulatedCamera(draw_scene(640, 360), OptionLens(streamer), FOCUS_DIOPTRES,
                             blur_rate=BLUR_PER_DIOPTRE, noise=3, jpeg_quality=None, seed=4)
    with CameraServer(SimFrames(camera), fps=30) as webcam:
        yield streamer, camera, webcam
    streamer.stop()


def pifocus(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "octoprint_pifocus", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("url_of", [lambda w: w.snapshot_url, lambda w: w.stream_url])
def test_autofocus_over_camera_streamer_ends_in_focus(rig, url_of):
    streamer, camera, webcam = rig
    # The default settle time (0.25 s, several frames at 30 fps): a shorter one lets a frame
    # rendered before the move through when the machine is busy, which is the point of it.
    run = pifocus("autofocus", "--driver", "camera-streamer", "--url", streamer.url,
                  "--camera", url_of(webcam), "--json")
    assert run.returncode == 0, run.stderr + run.stdout
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["found"] is True
    set_to = float(streamer.options["LensPosition"])
    assert set_to == pytest.approx(result["position"])
    assert camera.blur_radius(set_to) <= 0.75
    assert streamer.options["AfMode"].lower() == "manual"


def test_progress_is_printed_as_it_goes(rig):
    streamer, camera, webcam = rig
    run = pifocus("autofocus", "--driver", "camera-streamer", "--url", streamer.url,
                  "--camera", webcam.snapshot_url, "--settle", "0.1")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sum(" coarse " in line for line in lines) >= 4
    assert any(" final " in line for line in lines)
    assert "In focus at" in lines[-1] and "dioptre" in lines[-1]


def test_camera_down_is_one_clear_line_and_the_lens_goes_back(rig):
    streamer, camera, webcam = rig
    run = pifocus("autofocus", "--driver", "camera-streamer", "--url", streamer.url,
                  "--camera", refused_url("/snapshot"), "--mode", "snapshot", "--timeout", "2")
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert "No focus" in run.stdout and "refused" in run.stdout
    # It never got a frame, so the lens is back where the search started it.
    assert float(streamer.options["LensPosition"]) == 0.0


def test_bad_option_is_a_usage_error_without_traceback():
    run = pifocus("autofocus", "--driver", "camera-streamer", "--camera", "http://127.0.0.1:9/x",
                  "--settle", "-1")
    assert run.returncode == 2  # argparse's usage error, before anything opens
    assert "Traceback" not in run.stderr
    assert "--settle must be between 0 and 3600; got '-1'" in run.stderr


def test_the_lens_and_camera_are_named_for_people_without_passwords(rig):
    streamer, camera, webcam = rig
    url = webcam.snapshot_url.replace("//", "//viewer:CAMSECRET@")
    run = pifocus("autofocus", "--driver", "simulated", "--camera", url, "--settle", "0")
    head = run.stdout.splitlines()[0]
    assert head == f"Lens: simulated VCM (range 0..1023 codes); camera: snapshot URL {url.replace('CAMSECRET', '***')}"
    assert "CAMSECRET" not in run.stdout + run.stderr and " object at 0x" not in run.stdout


@pytest.mark.parametrize("option, value, words", [
    ("--timeout", "inf", "--timeout must be a finite number, e.g. 2.5; got 'inf'"),
    ("--timeout", "nan", "--timeout must be a finite number, e.g. 2.5; got 'nan'"),
    ("--settle", "nan", "--settle must be a finite number, e.g. 2.5; got 'nan'"),
    ("--settle", "-1", "--settle must be between 0 and 3600; got '-1'"),
    ("--window", "inf", "--window must be a finite number, e.g. 2.5; got 'inf'"),
])
def test_numbers_that_are_not_finite_are_usage_errors(option, value, words):
    run = pifocus("autofocus", "--driver", "simulated", "--camera", refused_url(), option, value)
    assert run.returncode == 2 and run.stdout == ""
    assert words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 1e300, 0.0])
def test_check_timing_refuses_timeouts_a_socket_cannot_use(timeout):
    from octoprint_pifocus.sources.base import check_timing
    with pytest.raises(ValueError, match="timeout must be a number of seconds more than 0 and at most 3600"):
        check_timing(0.25, 0, timeout)


@pytest.mark.parametrize("settle", [float("inf"), float("nan"), -1.0])
def test_check_timing_refuses_settle_times_that_are_not_finite(settle):
    from octoprint_pifocus.sources.base import check_timing
    with pytest.raises(ValueError, match="settle must be a number of seconds from 0 to 3600"):
        check_timing(settle, 0, 5.0)
