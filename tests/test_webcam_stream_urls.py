"""Stream URLs of OctoPrint webcams, resolved on the server side the way OctoPi serves them."""
from __future__ import annotations

from types import SimpleNamespace

from octoprint.schema.webcam import Webcam, WebcamCompatibility

from octoprint_pifocus.plugin.webcams import first_stream, stream_url_candidates
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene
from servers.camera_server import CameraServer, refused_url
from servers.frames import SimFrames


def webcam(stream: str):
    """What octoprint.webcams.get_webcams() lists (ProvidedWebcam needs a running plugin manager)."""
    config = Webcam(name="classic", displayName="Classic Webcam", snapshotDisplay="",
                    compat=WebcamCompatibility(stream=stream, snapshot="http://127.0.0.1:8080/?action=snapshot"))
    return SimpleNamespace(config=config, providerIdentifier="classicwebcam")


def test_relative_stream_url_tries_octoprint_then_octopis_haproxy():
    urls = stream_url_candidates(webcam("/webcam/?action=stream"), "http://127.0.0.1:5000/")
    assert urls == ["http://127.0.0.1:5000/webcam/?action=stream", "http://127.0.0.1/webcam/?action=stream"]


def test_absolute_stream_url_is_the_only_candidate():
    urls = stream_url_candidates(webcam("http://10.0.0.5:8080/?action=stream"), "http://127.0.0.1:5000/")
    assert urls == ["http://10.0.0.5:8080/?action=stream"]


def test_first_stream_skips_what_does_not_stream():
    camera = SimulatedCamera(draw_scene(160, 90), SimulatedLens(), 500, jpeg_quality=None)
    with CameraServer(SimFrames(camera), fps=20) as server:
        dead, snapshot, stream = refused_url("/webcam/"), server.snapshot_url, server.stream_url
        assert first_stream([dead, snapshot, stream]) == stream
        assert first_stream([dead, snapshot]) is None
