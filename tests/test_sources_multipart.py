"""The MJPEG stream parser against the layouts of real webcam servers, fed whole, byte by
byte and split at awkward places; truncated frames, non-JPEG parts, JPEG internals that
fool naive SOI/EOI scanning, arrival times and the memory bound."""
from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
from servers import STYLES, encode_jpeg

from octoprint_pifocus.sim import disc_blur, draw_scene
from octoprint_pifocus.sources import MultipartParser
from octoprint_pifocus.sources.jpeg import BAD, END, NEED, jpeg_length


@pytest.fixture(scope="module")
def frames():
    """Three different small JPEGs, as a sharp, a blurred and a very blurred frame."""
    scene = draw_scene(96, 64)
    return [encode_jpeg(disc_blur(scene, r)) for r in (0, 2, 5)]


def parse(chunks, parser=None):
    parser = parser or MultipartParser()
    out = []
    for i, chunk in enumerate(chunks):
        out += parser.feed(chunk, float(i))
    return [f.data for f in out], parser


def split_at(data: bytes, *cuts: int):
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


# ~~ the layouts of real servers


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_server_layout_gives_exactly_its_frames(style, frames):
    body = STYLES[style].stream(frames)
    got, parser = parse([body])
    assert got == frames
    assert parser.dropped == 0


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_server_layout_fed_byte_by_byte(style, frames):
    body = STYLES[style].stream(frames)
    got, parser = parse([body[i:i + 1] for i in range(len(body))])
    assert got == frames
    assert parser.buffered <= 2  # between frames only a possibly split SOI is held


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_server_layout_split_around_every_frame_edge(style, frames):
    """Two chunks, cut at every position within 6 bytes of each SOI and EOI: the markers
    themselves split between FF and D8/D9, headers split from bodies, CRLFs split."""
    body = STYLES[style].stream(frames)
    edges = []
    for frame in frames:
        start = body.index(frame)
        edges += [start, start + len(frame)]
    for edge in edges:
        for cut in range(edge - 6, edge + 7):
            got, _ = parse(split_at(body, cut))
            assert got == frames, f"cut at {cut} (frame edge {edge})"


def test_random_chunk_sizes_for_every_layout(frames):
    rng = random.Random(4)
    for style in STYLES.values():
        body = style.stream(frames * 3)
        cuts = sorted(rng.sample(range(1, len(body)), 60))
        got, _ = parse(split_at(body, *cuts))
        assert got == frames * 3, style.name


# ~~ damaged streams


def test_a_truncated_frame_is_dropped_and_the_next_one_kept(frames):
    """A frame cut short in its image data, with the next part following at once (a
    crashed encoder, a dropped USB packet). The part still claims its full Content-Length."""
    style = STYLES["mjpg-streamer"]
    cut = frames[1][:len(frames[1]) * 2 // 3]
    body = style.head() + style.part(frames[0]) + style.part(cut).replace(
        b"Content-Length: %d" % len(cut), b"Content-Length: %d" % len(frames[1])) + style.part(frames[2])
    for chunks in ([body], [body[i:i + 1] for i in range(len(body))]):
        got, parser = parse(chunks)
        assert got == [frames[0], frames[2]]
        assert parser.dropped == 1


def test_a_frame_cut_inside_its_header_segments_is_dropped(frames):
    """Cut inside the quantisation tables: the segment length then points past the cut, into
    the next part. The next frame must still come through."""
    style = STYLES["camera-streamer"]
    cut = frames[1][:40]
    body = style.head() + style.part(frames[0]) + style.part(cut) + style.part(frames[2]) \
        + style.part(frames[0])
    got, parser = parse([body])
    assert got == [frames[0], frames[2], frames[0]]
    assert parser.dropped == 1


def test_a_stream_ending_mid_frame_returns_only_complete_frames(frames):
    style = STYLES["mjpg-streamer"]
    body = style.head() + style.part(frames[0]) + style.part(frames[1])[:500]
    got, parser = parse([body])
    assert got == [frames[0]]
    assert parser.buffered < 500


def test_parts_that_are_not_jpegs_are_skipped(frames):
    """Text ("no signal"), a PNG, and ustreamer's zero_data parts (Content-Length: 0)."""
    ok, png = cv2.imencode(".png", draw_scene(32, 24))
    body = (b"--b\r\nContent-Type: text/plain\r\n\r\nNo signal\r\n"
            + b"--b\r\nContent-Type: image/jpeg\r\n\r\n" + frames[0] + b"\r\n"
            + b"--b\r\nContent-Type: image/png\r\n\r\n" + png.tobytes() + b"\r\n"
            + b"--b\r\nContent-Type: image/jpeg\r\nContent-Length: 0\r\n\r\n\r\n"
            + b"--b\r\nContent-Type: image/jpeg\r\n\r\n" + frames[1] + b"\r\n")
    got, parser = parse([body])
    assert got == [frames[0], frames[1]]
    assert parser.skipped > len(png.tobytes())


def test_a_jpeg_without_its_end_marker_is_dropped_as_truncated(frames):
    body = b"--b\r\n\r\n" + frames[0][:-2] + b"\r\n--b\r\n\r\n" + frames[1] + b"\r\n"
    got, parser = parse([body])
    assert got == [frames[1]]
    assert parser.dropped == 1


# ~~ JPEG internals that fool a naive FFD8/FFD9 search


def with_exif_thumbnail(jpeg: bytes, thumbnail: bytes) -> bytes:
    """``jpeg`` with an APP1 segment holding a whole JPEG, as cameras store EXIF thumbnails."""
    payload = b"Exif\x00\x00" + thumbnail
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + app1 + jpeg[2:]


def test_an_exif_thumbnail_does_not_end_the_frame(frames):
    big = with_exif_thumbnail(frames[0], frames[2])
    assert cv2.imdecode(np.frombuffer(big, np.uint8), cv2.IMREAD_COLOR).shape == (64, 96, 3)
    body = STYLES["flask"].stream([big, frames[1]])
    for chunks in ([body], [body[i:i + 7] for i in range(0, len(body), 7)]):
        got, _ = parse(chunks)
        assert got == [big, frames[1]]


@pytest.mark.parametrize("flags", [{"JPEG_PROGRESSIVE": 1}, {"JPEG_RST_INTERVAL": 1},
                                   {"JPEG_OPTIMIZE": 1}])
def test_progressive_restart_and_optimised_jpegs(flags):
    scene = draw_scene(160, 96)
    frame = encode_jpeg(scene, **flags)
    if "JPEG_RST_INTERVAL" in flags:
        assert any(b"\xff" + bytes([m]) in frame for m in range(0xD0, 0xD8))
    body = STYLES["undeclared"].stream([frame, frame])
    got, _ = parse([body[i:i + 1] for i in range(len(body))])
    assert got == [frame, frame]


def test_jpeg_length_tells_complete_cut_and_foreign_data(frames):
    assert jpeg_length(frames[0]) == (END, len(frames[0]))
    assert jpeg_length(frames[0] + b"\r\n\x00\x00") == (END, len(frames[0]))
    assert jpeg_length(frames[0][:len(frames[0]) // 2])[0] == NEED
    assert jpeg_length(frames[0][:30])[0] == NEED
    assert jpeg_length(b"<html>login</html>")[0] == BAD
    assert jpeg_length(b"")[0] == BAD


# ~~ when a frame arrived


def test_a_frame_is_timed_by_its_first_jpeg_byte_not_by_its_headers(frames):
    """ustreamer's advance_headers sends the next part's headers right after a frame: they
    arrive long before the picture they announce exists."""
    style = STYLES["ustreamer-advance"]
    parser = MultipartParser()
    first = parser.feed(style.head() + style.part(frames[0]), 1.0)  # + the next part's headers
    second = parser.feed(frames[1][:100], 5.0)
    second += parser.feed(frames[1][100:] + b"\r\n--boundarydonotcross\r\n", 6.0)
    assert [(f.data, f.started) for f in first] == [(frames[0], 1.0)]
    assert [(f.data, f.started) for f in second] == [(frames[1], 5.0)]


def test_a_frame_whose_start_marker_was_split_is_timed_by_its_first_byte(frames):
    parser = MultipartParser()
    assert parser.feed(b"--b\r\n\r\n" + frames[0][:1], 2.0) == []  # 0xFF only
    assert parser.feed(frames[0][1:50], 3.0) == []
    got = parser.feed(frames[0][50:] + b"\r\n", 4.0)
    assert [(f.data, f.started) for f in got] == [(frames[0], 2.0)]


# ~~ bounded memory


def test_memory_stays_bounded_on_endless_garbage_and_on_a_runaway_frame(frames):
    parser = MultipartParser(max_frame=1 << 20)
    junk = bytes(range(0, 0xFF)) * 257  # ~64 KB with no 0xFF byte at all
    for _ in range(320):  # 20 MB of stream with no JPEG in it
        assert parser.feed(junk, 0.0) == []
        assert parser.buffered <= 2
    # A frame that starts and never ends: dropped once it passes max_frame, then resync.
    assert parser.feed(frames[0][:len(frames[0]) // 2], 1.0) == []
    for _ in range(40):  # 2.6 MB of image data without an end
        parser.feed(junk, 1.0)
        assert parser.buffered <= (1 << 20) + len(junk)
    assert parser.dropped >= 1
    got = parser.feed(b"\r\n--b\r\n\r\n" + frames[1] + b"\r\n", 2.0)
    assert [f.data for f in got] == [frames[1]]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_real_camera_jpegs_in_every_layout(style, pcb_stack):
    """Real photographs, as a camera wrote them (with their EXIF thumbnails), not cv2's output."""
    real = [p.read_bytes() for p in pcb_stack[:3]]
    body = STYLES[style].stream(real)
    got, _ = parse([body[i:i + 4096] for i in range(0, len(body), 4096)])
    assert got == real
