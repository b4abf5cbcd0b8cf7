"""The snapshot source against real HTTP servers on 127.0.0.1: the connection is reused,
servers that close it are handled, discarded snapshots are really fetched, and every failure
a user can meet gives a message naming the URL and what to check. Also the factory."""
from __future__ import annotations

import time

import pytest
from servers import CameraServer, refused_url, sim_frames

from octoprint_pifocus.errors import CameraError
from octoprint_pifocus.sources import MjpegStream, SnapshotSource, guess_mode, open_source


@pytest.fixture
def frames():
    return sim_frames()


@pytest.fixture
def server(frames):
    with CameraServer(frames, fps=50) as server:
        server.wait_published()
        yield server


def snapshot_requests(server):
    return server.requests.count(server.snapshot_path)


def test_captures_reuse_one_connection(server, frames):
    with SnapshotSource(server.snapshot_url, settle=0.03) as source:
        shots = [source.capture() for _ in range(5)]
    assert all(frames.origin(shot) is not None for shot in shots)
    assert snapshot_requests(server) == 5
    assert server.connections == 1 and source.connections == 1


def test_settle_is_waited_before_each_fetch(server):
    with SnapshotSource(server.snapshot_url, settle=0.2) as source:
        started = time.monotonic()
        source.capture()
        assert time.monotonic() - started >= 0.2


def test_discard_fetches_and_drops_that_many(server):
    with SnapshotSource(server.snapshot_url, settle=0, discard=2) as source:
        for _ in range(3):
            source.capture()
    assert snapshot_requests(server) == 9
    assert server.connections == 1


def test_a_server_closing_each_connection_http_1_0_style(server, frames):
    """mjpg-streamer answers snapshots with HTTP/1.0 and closes: a new connection each time."""
    server.misbehave(keep_alive=False)
    with SnapshotSource(server.snapshot_url, settle=0) as source:
        shots = [source.capture() for _ in range(3)]
    assert all(frames.origin(shot) is not None for shot in shots)
    assert server.connections == 3


def test_a_server_closing_the_idle_connection_silently(server, frames):
    """A keep-alive server that drops idle connections without saying so: the next request
    on the dead connection fails, and is retried once on a new one, unnoticed by the caller."""
    server.misbehave(close_idle=True)
    with SnapshotSource(server.snapshot_url, settle=0) as source:
        shots = []
        for _ in range(3):
            shots.append(source.capture())
            time.sleep(0.05)  # the server has closed its end by now
    assert all(frames.origin(shot) is not None for shot in shots)
    assert server.connections == 3 and snapshot_requests(server) == 3
    assert source.requests == 5  # two requests went to dead connections and were retried


def test_basic_auth_from_the_url(frames):
    with CameraServer(frames, fps=50, auth=("pi", "p@ss word")) as server:
        url = server.snapshot_url.replace("//", "//pi:p%40ss%20word@")
        with SnapshotSource(url, settle=0) as source:
            assert frames.origin(source.capture()) is not None
            assert source.name == f"snapshot URL http://pi:***@127.0.0.1:{server.port}/snapshot"


# ~~ failures: each with its message, none hanging


def snapshot_error(url: str, timeout: float = 2.0) -> str:
    with SnapshotSource(url, settle=0, timeout=timeout) as source, \
            pytest.raises(CameraError) as caught:
        source.capture()
    return str(caught.value)


def test_404_names_the_wrong_path(server):
    url = server.url("/webcam/?action=snapshot")
    message = snapshot_error(url)
    assert message == (
        f"The camera at {url} answered HTTP 404 Not Found: wrong path. Check the URL: "
        "mjpg-streamer uses /?action=snapshot and /?action=stream, camera-streamer /snapshot and "
        "/stream, and OctoPrint's proxy puts /webcam/ in front.")


def test_500_passes_on_the_servers_own_words(server):
    server.misbehave(status=500, body=b"No snapshot captured yet.\r\n")
    message = snapshot_error(server.snapshot_url)
    assert message == (
        f"The camera at {server.snapshot_url} answered HTTP 500 Internal Server Error "
        "(No snapshot captured yet.): the webcam service has a problem. Is the camera connected "
        "and working? Check the service's log.")


def test_an_html_login_page(server):
    server.misbehave(body=b"<!doctype html>\n<html><head><title>OctoPrint Login</title></head>"
                          b"<body><form>...</form></body></html>", content_type="text/html")
    message = snapshot_error(server.snapshot_url)
    assert message == (
        f"The camera at {server.snapshot_url} sent an HTML page titled 'OctoPrint Login' instead "
        "of a JPEG: it looks like a login or error page. Check the URL, and the user name and "
        "password if the page asks to log in.")


def test_an_empty_body(server):
    server.misbehave(body=b"")
    message = snapshot_error(server.snapshot_url)
    assert message == (
        f"The camera at {server.snapshot_url} sent an empty response instead of a JPEG. The "
        "camera may not be delivering pictures: check the webcam service.")


def test_a_jpeg_cut_short(server, frames):
    server.misbehave(body=frames()[:700])
    message = snapshot_error(server.snapshot_url)
    assert message.startswith(f"The camera at {server.snapshot_url} sent a JPEG that is cut short "
                              "or damaged (700 bytes).")


def test_something_else_than_a_jpeg(server):
    server.misbehave(body=b"\x89PNG\r\n\x1a\n" + bytes(100), content_type="image/png")
    message = snapshot_error(server.snapshot_url)
    assert message.startswith(f"The camera at {server.snapshot_url} sent 108 bytes of image/png "
                              "that are not a JPEG (they start with b'\\x89PNG")


def test_a_slow_server_hits_the_timeout(server):
    server.misbehave(delay=5)
    started = time.monotonic()
    message = snapshot_error(server.snapshot_url, timeout=0.4)
    assert time.monotonic() - started < 1.0
    assert message == (
        f"The camera at {server.snapshot_url} did not answer within 0.4 s. Is the webcam service "
        "running and not overloaded? Check the URL, or allow a longer timeout.")


def test_connection_refused():
    url = refused_url("/?action=snapshot")
    assert snapshot_error(url) == (f"Cannot connect to the camera at {url}: connection refused. "
                                   "Is the webcam service running, or does the streamer accept only one client "
                                   "(ffmpeg's -listen 1)? Check the URL and port.")


def test_credentials_missing_or_wrong(frames):
    with CameraServer(frames, fps=50, auth=("pi", "secret")) as server:
        missing = snapshot_error(server.snapshot_url)
        wrong = snapshot_error(server.snapshot_url.replace("//", "//pi:guess@"))
    assert missing.endswith("answered HTTP 401 Unauthorized: it needs a user name and password: "
                            "put them in the URL in front of the host, as user:password@host.")
    assert "http://pi:***@127.0.0.1" in wrong and "guess" not in wrong
    assert wrong.endswith("the user name or password in the URL was refused: check them.")


def test_a_stream_url_given_as_snapshot_url(server):
    message = snapshot_error(server.stream_url)
    assert message == f"{server.stream_url} is an MJPEG stream, not a snapshot URL: use it as a stream."


def test_https_to_a_plain_http_server(server):
    url = server.snapshot_url.replace("http://", "https://")
    message = snapshot_error(url)
    assert message.startswith(f"HTTPS failed with {url} (")
    assert message.endswith("Is it really an https:// URL?")


def test_a_source_recovers_after_a_failure(server, frames):
    with SnapshotSource(server.snapshot_url, settle=0) as source:
        server.misbehave(status=503)
        with pytest.raises(CameraError, match="HTTP 503"):
            source.capture()
        server.behave()
        assert frames.origin(source.capture()) is not None


# ~~ the factory


def test_open_source_picks_the_kind_from_the_url_or_the_server(server):
    with open_source(server.stream_url) as source:
        assert isinstance(source, MjpegStream)
    with open_source(server.snapshot_url, settle=0.1, discard=1, timeout=2) as source:
        assert isinstance(source, SnapshotSource)
        assert (source.settle, source.discard, source.timeout) == (0.1, 1, 2.0)
    with CameraServer(lambda: b"", stream_path="/cam", snapshot_path="/pic") as odd:
        with open_source(odd.url("/cam")) as source:
            assert isinstance(source, MjpegStream)  # asked: multipart/x-mixed-replace
        odd.misbehave(body=b"\xff\xd8\xff\xd9")
        with open_source(odd.url("/pic")) as source:
            assert isinstance(source, SnapshotSource)  # asked: image/jpeg
    assert guess_mode("http://octopi.local/webcam/?action=stream") == "stream"
    assert guess_mode("http://cam.local:8080/snapshot") == "snapshot"
    assert guess_mode("http://cam.local/cam") == ""


def test_open_source_rejects_bad_arguments_and_urls():
    with pytest.raises(ValueError, match="mode must be one of auto, stream, snapshot"):
        open_source("http://h/stream", mode="video")
    with pytest.raises(ValueError, match="settle"):
        open_source(refused_url("/cam"), settle=-1)  # checked before asking the server
    with pytest.raises(ValueError, match="discard"):
        open_source("http://h/snapshot", discard=1.5)
    with pytest.raises(CameraError, match="resolved against OctoPrint's address"):
        open_source("/webcam/?action=stream")
    with pytest.raises(CameraError, match="must be a full http:// or https:// URL"):
        open_source("rtsp://cam/stream")
    url = refused_url("/cam")
    with pytest.raises(CameraError, match="connection refused"):
        open_source(url)  # auto mode has to ask the server, which is not there
