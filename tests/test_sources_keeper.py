"""The stream keeper against a real MJPEG server on 127.0.0.1: one connection lent to one
operation after another, kept open ``keep`` seconds after a warm use and no longer, never
kept open by a cold use, replaced when the camera changes, and never pulled from under a run."""
from __future__ import annotations

import threading
import time

import pytest
from servers import CameraServer, sim_frames

from octoprint_pifocus.errors import CameraError
from octoprint_pifocus.sources.keeper import StreamKeeper


@pytest.fixture
def server():
    with CameraServer(sim_frames(), fps=30) as server:
        yield server


def open_after(server: CameraServer, seconds: float) -> int:
    """The server's open connections once ``seconds`` passed (a closed client's handler needs
    a moment to notice)."""
    time.sleep(seconds)
    return server.open_connections


def wait_closed(server: CameraServer, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.open_connections == 0


def use_once(keeper: StreamKeeper, url: str, warm: bool = True) -> None:
    """An operation: a lease, a frame, the lease given back."""
    lease = keeper.lease(url, settle=0.0, warm=warm)
    lease.capture()
    lease.close()


def test_warm_uses_one_after_the_other_share_one_connection_and_the_frames_it_has(server):
    keeper = StreamKeeper(keep=lambda: 30.0)
    try:
        use_once(keeper, server.stream_url)
        time.sleep(0.3)
        second = keeper.lease(server.stream_url, settle=0.0)
        asked = time.monotonic()
        frame = second.wait_frame(asked)
        had = second.frames_before(frame, 3)
        second.close()
        assert server.connections == 1, "the second use connected again"
        assert len(had) == 3 and all(f.started < asked for f in had), "no frames from before it asked"
        assert server.open_connections == 1, "given back, a warm stream stays open"
    finally:
        keeper.close()
    assert wait_closed(server)


def test_a_warm_stream_closes_keep_seconds_after_its_last_use(server):
    keeper = StreamKeeper(keep=lambda: 0.5)
    use_once(keeper, server.stream_url)
    assert open_after(server, 0.2) == 1
    assert wait_closed(server, 2.0), "still open long after keep"
    assert keeper.url is None
    again = keeper.lease(server.stream_url, settle=0.0)
    try:
        again.capture()
        assert server.connections == 2, "after it closed, the next use connects again"
    finally:
        again.close()
        keeper.close()


@pytest.mark.parametrize("keep", [0.0, 30.0], ids=["keep 0", "keep 30"])
def test_a_cold_use_alone_closes_its_stream_when_it_is_given_back(server, keep):
    """A snapshot for the region editor or the watchdog's look never keeps a stream open;
    ``keep`` 0 closes even a warm one at once."""
    keeper = StreamKeeper(keep=lambda: keep)
    use_once(keeper, server.stream_url, warm=keep == 0.0)
    assert wait_closed(server, 2.0)
    assert keeper.url is None


def test_a_cold_use_takes_a_warm_stream_without_keeping_it_open_longer(server):
    keeper = StreamKeeper(keep=lambda: 2.0)
    use_once(keeper, server.stream_url)
    returned = time.monotonic()
    time.sleep(1.0)
    assert keeper.delivering(server.stream_url)
    use_once(keeper, server.stream_url, warm=False)
    assert server.connections == 1, "the cold use connected on its own"
    time.sleep(max(0.0, returned + 2.5 - time.monotonic()))
    # Had the cold use kept it open, it would close 2 s after that use, 3 s after the warm one.
    assert wait_closed(server, 0.3), "the cold use kept the stream open"
    keeper.close()


def test_another_url_replaces_an_idle_stream_and_gets_its_own_while_one_is_lent():
    with CameraServer(sim_frames(), fps=30) as a, CameraServer(sim_frames(), fps=30) as b:
        keeper = StreamKeeper(keep=lambda: 30.0)
        try:
            lent = keeper.lease(a.stream_url, settle=0.0)
            lent.capture()
            other = keeper.lease(b.stream_url, settle=0.0)  # a is lent: b gets a stream of its own
            other.capture()
            other.close()
            assert wait_closed(b, 2.0), "a stream of its own is closed when given back"
            assert lent.capture() and a.open_connections == 1, "the lent stream was pulled from its user"
            lent.close()
            assert keeper.url == a.stream_url
            replaced = keeper.lease(b.stream_url, settle=0.0)  # a is idle now: replaced
            replaced.capture()
            assert wait_closed(a, 2.0) and keeper.url == b.stream_url
            replaced.close()
        finally:
            keeper.close()


def test_a_retired_stream_serves_its_run_to_the_end_then_closes(server):
    """Settings saved during an autofocus: the run keeps its frames, the next use connects
    anew (another settle, another camera may follow)."""
    keeper = StreamKeeper(keep=lambda: 30.0)
    try:
        running = keeper.lease(server.stream_url, settle=0.0)
        running.capture()
        keeper.retire()
        assert running.capture(), "the running autofocus lost its stream"
        during = keeper.lease(server.stream_url, settle=0.0)
        during.capture()
        assert server.connections == 2, "a use after the retirement shares the retired stream"
        during.close()
        running.close()
        assert wait_closed(server, 2.0)
        use_once(keeper, server.stream_url)
        assert server.connections == 3
    finally:
        keeper.close()


def test_closing_the_keeper_ends_a_wait_with_a_clear_error(server):
    keeper = StreamKeeper(keep=lambda: 30.0)
    lease = keeper.lease(server.stream_url, settle=0.0)
    lease.capture()
    errors = []

    def wait_long() -> None:
        try:
            lease.wait_frame(time.monotonic() + 10, timeout=10)
        except CameraError as exc:
            errors.append(str(exc))

    waiter = threading.Thread(target=wait_long)
    waiter.start()
    time.sleep(0.1)
    keeper.close()
    waiter.join(3)
    lease.close()
    assert not waiter.is_alive() and errors and "closed" in errors[0]
    assert wait_closed(server, 2.0)


def test_a_bad_url_is_refused_and_the_stream_held_stays(server):
    keeper = StreamKeeper(keep=lambda: 30.0)
    try:
        use_once(keeper, server.stream_url)
        with pytest.raises(CameraError):
            keeper.lease("ftp://camera.local/stream", settle=0.0)
        assert keeper.url == server.stream_url and keeper.delivering(server.stream_url)
        assert server.open_connections == 1
    finally:
        keeper.close()
