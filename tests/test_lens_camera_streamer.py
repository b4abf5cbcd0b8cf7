"""The camera-streamer driver against a real HTTP server behaving like camera-streamer."""
from __future__ import annotations

import base64
import socket

import pytest
from fakes.camera_streamer_server import CameraStreamerServer

from octoprint_pifocus.errors import LensError, MoveRefused
from octoprint_pifocus.focus.protocols import Lens
from octoprint_pifocus.lenses import CameraStreamerLens, open_lens, probe_all


@pytest.fixture
def serve():
    servers = []

    def start(**options) -> CameraStreamerServer:
        server = CameraStreamerServer(**options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_new_form_sets_manual_mode_then_the_lens_position(serve):
    server = serve(form="new")
    lens = CameraStreamerLens(url=server.url)
    assert lens.position_known is False and lens.manual_mode is False
    lens.move_to(2.5)
    assert lens.manual_mode is True  # libcamera stops hunting: the sidebar says so
    assert server.requests[0] == ("/option", {})              # form detection, changes nothing
    assert server.sets() == [
        {"device": "CAMERA", "key": "AfMode", "value": "manual"},
        {"device": "CAMERA", "key": "LensPosition", "value": "2.5"},
    ]
    assert server.options == {"AfMode": "manual", "LensPosition": "2.5"}
    assert (lens.position, lens.position_known, lens.form) == (2.5, True, "new")


def test_old_form_is_detected_and_used(serve):
    server = serve(form="old")
    lens = CameraStreamerLens(url=server.url + "/")
    lens.move_to(7.25)
    assert server.sets() == [{"AfMode": "0"}, {"LensPosition": "7.25"}]
    assert server.options["LensPosition"] == "7.25"
    assert lens.form == "old"


def test_values_snap_to_the_resolution(serve):
    server = serve()
    lens = CameraStreamerLens(url=server.url, resolution=0.01)
    lens.move_to(3.14159)
    assert server.options["LensPosition"] == "3.14" and lens.position == 3.14


def test_a_camera_without_focus_motor_gets_404_and_says_so(serve):
    server = serve(has_lens=False)
    lens = CameraStreamerLens(url=server.url)
    with pytest.raises(LensError) as info:
        lens.move_to(1.0)
    message = str(info.value)
    assert "no AfMode control on device CAMERA: this camera has no focus motor" in message
    assert "The option was not found" in message


def test_a_wrong_device_name_is_a_404_too(serve):
    server = serve()
    lens = CameraStreamerLens(url=server.url, device="camera")
    with pytest.raises(LensError, match="on device camera: this camera has no focus motor"):
        lens.move_to(1.0)
    assert "LensPosition" not in server.options


def test_a_500_is_reported_with_the_server_text(serve):
    server = serve(fail=True)
    lens = CameraStreamerLens(url=server.url)
    with pytest.raises(LensError) as info:
        lens.move_to(1.0)
    assert lens.manual_mode is False  # libcamera's own mode may still run
    assert f"camera-streamer at {server.url} could not set AfMode to manual (500)" in str(info.value)
    assert "CAMERA: Cannot set 'AfMode' to 'manual'" in str(info.value)


def test_out_of_range_is_refused_before_any_request(serve):
    server = serve()
    lens = CameraStreamerLens(url=server.url, limits=(0.0, 10.0))
    for bad in (10.5, -0.1, float("inf"), "2.0"):
        with pytest.raises(MoveRefused):
            lens.move_to(bad)
    assert server.requests == []


def test_connection_refused_names_the_url(serve):
    url = closed_port_url()
    lens = CameraStreamerLens(url=url)
    with pytest.raises(LensError) as info:
        lens.move_to(1.0)
    assert str(info.value).startswith(f"Cannot reach camera-streamer at {url} (connection refused): "
                                      "check that camera-streamer is running")


def test_a_silent_server_times_out_with_a_message(serve):
    server = serve(delay=1.0)
    lens = CameraStreamerLens(url=server.url, timeout=0.2)
    with pytest.raises(LensError, match=rf"Cannot reach camera-streamer at {server.url} \(no reply within 0.2 s\)"):
        lens.move_to(1.0)


def test_something_else_on_the_port_is_not_taken_for_camera_streamer(serve):
    server = serve()
    server.answer = lambda path, params: (200, "<html>OctoPrint</html>", "text/html")
    lens = CameraStreamerLens(url=server.url)
    with pytest.raises(LensError, match=r"does not answer like camera-streamer \(GET /option gave 200"):
        lens.move_to(1.0)
    assert server.sets() == []


def test_reapply_sends_mode_and_position_again_once_known(serve):
    server = serve()
    lens = CameraStreamerLens(url=server.url)
    assert lens.reapply() is False and server.requests == []
    lens.move_to(4.0)
    server.options.clear()                     # camera-streamer restarted
    assert lens.reapply() is True
    assert server.options == {"AfMode": "manual", "LensPosition": "4"}


def test_explicit_form_skips_detection(serve):
    server = serve(form="old")
    lens = CameraStreamerLens(url=server.url, form="old", position=1.5)
    assert lens.position_known and lens.position == 1.5
    lens.reapply()
    assert [path for path, params in server.requests] == ["/option", "/option"]
    assert server.sets() == [{"AfMode": "0"}, {"LensPosition": "1.5"}]


def test_probe_and_probe_all(serve):
    server = serve()
    lens = open_lens("camera-streamer", url=server.url)
    assert isinstance(lens, Lens)
    info = lens.probe()
    assert (info["found"], info["form"], info["limits"], info["units"], info["position"]) == (
        True, "new", [0.0, 12.0], "dioptre", None)
    entries = probe_all(dev_dir="/nonexistent", url=server.url, timeout=0.5)
    assert [(e["driver"], e["found"]) for e in entries] == [("camera-streamer", True)]
    missing = probe_all(dev_dir="/nonexistent", url=closed_port_url(), timeout=0.5)
    assert missing[0]["found"] is False and "connection refused" in missing[0]["message"]


@pytest.mark.parametrize("options, message", [
    ({"url": "localhost:8080"}, "must look like http://"),
    ({"limits": (-1.0, 10.0)}, "cannot be negative"),
    ({"limits": (5.0, 5.0)}, "low < high"),
    ({"form": "newest"}, "one of auto, new, old"),
    ({"resolution": 0}, "greater than 0"),
])
def test_bad_configuration(options, message):
    with pytest.raises(ValueError, match=message):
        CameraStreamerLens(**options)


# ~~ a URL with a user name and password (camera-streamer behind a proxy asking for basic auth)


def test_credentials_in_the_url_are_sent_as_basic_auth(serve):
    server = serve(auth=("cam", "p@ss:w/rd"))
    lens = CameraStreamerLens(url=f"http://cam:p%40ss%3Aw%2Frd@127.0.0.1:{server.httpd.server_address[1]}")
    lens.move_to(2.5)
    assert server.options == {"AfMode": "manual", "LensPosition": "2.5"}
    # "cam:p@ss:w/rd" in base64, on every request (the form probe and the two sets).
    assert server.authorizations == ["Basic Y2FtOnBAc3M6dy9yZA=="] * 3
    assert "p%40ss" not in lens.where and "cam:***@127.0.0.1" in lens.where
    assert "p%40ss" not in repr(lens) and "p%40ss" not in lens.probe()["device"]


def test_missing_or_wrong_credentials_say_what_to_fix_without_the_password(serve):
    server = serve(auth=("cam", "right"))
    port = server.httpd.server_address[1]
    with pytest.raises(LensError) as missing:
        CameraStreamerLens(url=f"http://127.0.0.1:{port}").move_to(1.0)
    with pytest.raises(LensError) as wrong:
        CameraStreamerLens(url=f"http://cam:WRONGPW@127.0.0.1:{port}").move_to(1.0)
    assert str(missing.value) == (
        f"camera-streamer at http://127.0.0.1:{port} needs a user name and password (it answered "
        "HTTP 401): put them in the URL in front of the host, as user:password@host.")
    assert str(wrong.value) == (f"camera-streamer at http://cam:***@127.0.0.1:{port} refused the user name "
                                "or password in the URL: check them.")
    assert server.options == {}


def test_an_unreachable_url_with_credentials_does_not_show_the_password():
    url = closed_port_url().replace("//", "//cam:TOPSECRET@")
    lens = CameraStreamerLens(url=url)
    with pytest.raises(LensError) as info:
        lens.move_to(1.0)
    assert "TOPSECRET" not in str(info.value)
    assert str(info.value).startswith(f"Cannot reach camera-streamer at {url.replace('TOPSECRET', '***')} "
                                      "(connection refused)")
    probe = lens.probe()
    assert "TOPSECRET" not in str(probe) and probe["found"] is False


@pytest.mark.parametrize("password", ["Top#secret42", "Top?secret", "To/psecret", "Sekr＠t99", "a@b:c"])
def test_a_password_with_url_delimiters_written_as_it_is_still_works(serve, password):
    """urllib reads http://cam:Top#secret42@host as host "cam", port "Top": the password's first
    part then showed as a "port" in the error. PiFocus takes the user information up to the
    last "@" a host follows, so the password works as typed, and is never shown."""
    server = serve(auth=("cam", password))
    lens = CameraStreamerLens(url=f"http://cam:{password}@127.0.0.1:{server.httpd.server_address[1]}")
    lens.move_to(2.5)
    assert server.options == {"AfMode": "manual", "LensPosition": "2.5"}
    token = base64.b64encode(f"cam:{password}".encode()).decode()
    assert set(server.authorizations) == {f"Basic {token}"}
    assert password not in lens.where and password.split("#")[0] not in lens.where
    assert "cam:***@127.0.0.1" in lens.where
