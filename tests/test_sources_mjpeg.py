"""The MJPEG stream reader against real HTTP servers on 127.0.0.1: every server layout,
discarding, reconnects and their back-off, a stream that stops in the middle of a search,
the errors a user can meet, and closing without leaving a thread behind."""
from __future__ import annotations

import threading
import time

import pytest
from servers import STYLES, CameraServer, StreamStyle, refused_url, sim_frames

from octoprint_pifocus.errors import CameraError
from octoprint_pifocus.focus import autofocus
from octoprint_pifocus.sources import MjpegStream


@pytest.fixture
def small_frames():
    """Cheap frames (160x96) of a simulated camera; each one unique (sensor noise)."""
    return sim_frames()


@pytest.fixture
def server(small_frames):
    with CameraServer(small_frames, fps=50) as server:
        yield server


def reader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("pifocus-mjpeg") and t.is_alive()]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_reads_every_server_layout_over_http(style, small_frames):
    with CameraServer(small_frames, fps=50, style=style) as server, \
            MjpegStream(server.stream_url, settle=0, timeout=3) as stream:
        origins = [small_frames.origin(stream.capture()) for _ in range(3)]
    assert None not in origins  # whole frames, byte for byte as rendered
    rendered = [o.rendered for o in origins]
    assert rendered == sorted(set(rendered))  # each capture a newer frame


def test_discard_skips_that_many_fresh_frames(server):
    for discard, low, high in ((3, 4, 6), (0, 1, 2)):
        with MjpegStream(server.stream_url, settle=0, discard=discard) as stream:
            stream.capture()
            before = stream.frames_received
            stream.capture()
            assert low <= stream.frames_received - before <= high, discard


def test_reconnects_when_the_server_drops_the_stream(server):
    server.misbehave(drop_after=5)
    with MjpegStream(server.stream_url, settle=0, timeout=3) as stream:
        frames = [stream.capture() for _ in range(18)]
        assert len(set(frames)) == 18
        assert stream.connections >= 4
    assert server.connections >= 4


def test_a_cut_connection_is_reopened_after_the_short_back_off(server, small_frames):
    with MjpegStream(server.stream_url, settle=0, timeout=3) as stream:
        stream.capture()
        server.drop_connections()
        cut = time.monotonic()
        while stream.connections < 2 and time.monotonic() - cut < 3:
            time.sleep(0.01)
        took = time.monotonic() - cut
        assert 0.15 <= took < 1.0, f"reconnected after {took:.2f} s; the first retry waits 0.2 s"
        assert small_frames.origin(stream.capture()).rendered > cut


def test_a_capture_waiting_on_a_failed_stream_retries_at_once(server):
    """A capture does not sit out the reader's back-off: it asks for a retry now."""
    with MjpegStream(server.stream_url, settle=0, timeout=3) as stream:
        server.misbehave(status=503)
        with pytest.raises(CameraError, match="HTTP 503"):
            stream.capture()
        time.sleep(0.8)  # attempts at 0, 0.2 and 0.6 s failed; the next is due at 1.4 s
        server.behave()
        started = time.monotonic()
        stream.capture()
        assert time.monotonic() - started < 0.3


def test_back_off_doubles_while_the_server_keeps_failing(server):
    """Attempts at 0, 0.2, 0.6, 1.4 s (then 3.0 s): four in 2.2 s, not eleven."""
    server.misbehave(status=503)
    with MjpegStream(server.stream_url) as stream:
        stream.start()
        time.sleep(2.2)
        attempts = server.connections
    assert 3 <= attempts <= 5, attempts


def test_autofocus_ends_cleanly_when_the_stream_stops_mid_search():
    frames = sim_frames(480, 270, start=300, focus=640, seed=2)
    lens = frames.camera.lens
    with CameraServer(frames, fps=50) as server, \
            MjpegStream(server.stream_url, settle=0.05, timeout=1.0) as stream:
        server.misbehave(stop_after=server.frames_sent + 5)
        result = autofocus(lens, stream)
    assert result.found is False
    assert f"No fresh frame from {server.stream_url}" in result.message
    assert "the stream stopped" in result.message
    assert "back at its start position 300" in result.message
    assert lens.position == 300
    assert 1 <= result.captures <= 5


# ~~ errors: each names the URL and says what to check, and none waits for the timeout


def capture_error(url: str, timeout: float = 3.0, **kwargs):
    started = time.monotonic()
    with MjpegStream(url, timeout=timeout, **kwargs) as stream, pytest.raises(CameraError) as caught:
        stream.capture()
    return str(caught.value), time.monotonic() - started


def test_connection_refused():
    url = refused_url("/stream")
    message, took = capture_error(url)
    assert message.startswith(f"Cannot connect to the camera at {url}: connection refused.")
    assert ("Is the webcam service running, or does the streamer accept only one client (ffmpeg's -listen 1)? "
            "Check the URL and port.") in message
    assert took < 1.0


def test_wrong_path(server):
    url = server.url("/webcam/?action=stream")
    message, took = capture_error(url)
    assert f"The camera at {url} answered HTTP 404" in message
    assert "wrong path" in message and "?action=stream" in message
    assert took < 1.0


def test_credentials_missing_wrong_and_right(small_frames):
    with CameraServer(small_frames, fps=50, auth=("pi", "s3cret")) as server:
        missing, _ = capture_error(server.stream_url)
        wrong, _ = capture_error(server.stream_url.replace("//", "//pi:nope@"))
        with MjpegStream(server.stream_url.replace("//", "//pi:s3cret@"), settle=0) as stream:
            assert small_frames.origin(stream.capture()) is not None
    assert "HTTP 401" in missing and "as user:password@host" in missing
    assert "pi:***@127.0.0.1" in wrong and "nope" not in wrong
    assert "the user name or password in the URL was refused" in wrong


def test_a_snapshot_url_is_not_taken_for_a_stream(server):
    message, took = capture_error(server.snapshot_url)
    assert f"{server.snapshot_url} serves single pictures (image/jpeg), not an MJPEG stream" in message
    assert took < 1.0


def test_a_login_page(server):
    server.misbehave(body=b"<!DOCTYPE html><html><head><title>Login</title></head></html>",
                     content_type="text/html; charset=utf-8")
    message, took = capture_error(server.stream_url)
    assert f"The camera at {server.stream_url} sent an HTML page titled 'Login'" in message
    assert "login" in message and took < 1.0


def test_a_stream_without_jpegs_in_it(small_frames):
    text = StreamStyle("text", "multipart/x-mixed-replace;boundary=b", lambda: b"",
                       lambda frame: b"--b\r\nContent-Type: text/plain\r\n\r\nNo signal\r\n")
    with CameraServer(small_frames, fps=50, style=text) as server:
        message, took = capture_error(server.stream_url, timeout=0.5)
    assert message.startswith(f"Connected to {server.stream_url}, but no JPEG frame arrived "
                              "within 0.5 s")
    assert "none of them a JPEG" in message and "?action=stream" in message
    assert 0.5 <= took < 1.5


def test_a_server_that_sends_nothing(server):
    server.misbehave(stop_after=0)
    message, took = capture_error(server.stream_url, timeout=0.5)
    assert server.stream_url in message and "within 0.5 s" in message
    assert "Is the webcam service running" in message
    assert 0.5 <= took < 1.5


# ~~ closing


def test_close_interrupts_a_waiting_capture_and_ends_the_thread(server):
    server.misbehave(stop_after=0)
    stream = MjpegStream(server.stream_url, timeout=30)
    errors = []

    def wait():
        try:
            stream.capture()
        except CameraError as exc:
            errors.append((str(exc), time.monotonic()))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)  # connected, blocked reading a silent socket
    closing = time.monotonic()
    stream.close()
    waiter.join(2)
    assert not waiter.is_alive()
    assert errors and "was closed while waiting for a frame" in errors[0][0]
    assert errors[0][1] - closing < 0.5
    assert time.monotonic() - closing < 0.5
    assert reader_threads() == []
    with pytest.raises(CameraError, match="is closed"):
        stream.capture()


def test_closing_an_unused_reader_is_harmless():
    stream = MjpegStream("http://127.0.0.1:9/stream")
    stream.close()
    stream.close()
    assert reader_threads() == []


def test_frame_after_finds_the_next_frame_even_when_newer_ones_came(server, small_frames):
    """The autofocus checks the frame right after one it took at a move's change
    (focus/pipeline.py): found among the frames kept, however many came since; waited for
    when it has not come yet; None once it is older than the frames kept."""
    from octoprint_pifocus.sources.mjpeg import RECENT_FRAMES

    with MjpegStream(server.stream_url, settle=0, timeout=3) as stream:
        taken = stream.wait_frame(time.monotonic())
        waited = stream.frame_after(taken)  # not come yet: waited for
        later = stream.wait_frame(time.monotonic() + 0.1)  # five frames later at 50 fps
        again = stream.frame_after(taken)
        time.sleep((RECENT_FRAMES + 4) / 50)
        gone = stream.frame_after(taken)
    rendered = [small_frames.origin(f.data).rendered for f in (taken, waited, later)]
    assert rendered[0] < rendered[1] < rendered[2]
    assert again == waited, "the frame after the one taken, not the newest"
    assert gone is None


def test_frames_before_are_the_ones_received_right_before_a_frame_and_not_across_a_reconnect(
        server, small_frames):
    """An autofocus primes on frames the stream already has (focus/pipeline.py): they must be
    the ones that came right before the frame asked about, one after the other, and never
    frames of an earlier connection, with a gap of unknown length before the new ones."""
    with MjpegStream(server.stream_url, settle=0, timeout=3) as stream:
        stream.wait_frame(time.monotonic() + 0.2)  # ten frames at 50 fps
        newest = stream.wait_frame(time.monotonic())
        before = stream.frames_before(newest, 3)
        assert len(before) == 3
        chain = before + [newest]
        assert all(stream.frame_after(a, timeout=0) is b for a, b in zip(chain, chain[1:])), (
            "each the frame received right before the next")
        rendered = [small_frames.origin(f.data).rendered for f in chain]
        assert rendered == sorted(rendered) and len(set(rendered)) == 4
        server.drop_connections()
        time.sleep(0.05)
        reconnected = stream.wait_frame(time.monotonic() + 0.3)
        assert stream.connections == 2
        after_reconnect = stream.frames_before(reconnected, 16)
        assert all(f.started > newest.started for f in after_reconnect), "no frame of the first connection"
        assert stream.frames_before(newest, 3) == [], "a frame no longer kept has none before it"
