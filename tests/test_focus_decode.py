"""Frame decoding and ROI handling: what the engine accepts, and the errors it gives."""
import cv2
import numpy as np
import pytest

from octoprint_pifocus.focus import measure_sharpness
from octoprint_pifocus.focus.decode import choose_reduction, decode_grey, validate_roi
from octoprint_pifocus.focus.jpeg_header import jpeg_size
from octoprint_pifocus.focus.scoring import FrameScorer
from octoprint_pifocus.sim import draw_scene


@pytest.fixture(scope="module")
def scene():
    return draw_scene(640, 360)


@pytest.fixture(scope="module")
def jpeg(scene):
    return cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def test_jpeg_bytes_grey_and_bgr_arrays_score_alike(scene, jpeg):
    grey = cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY)
    from_jpeg = measure_sharpness(jpeg)
    from_bgr = measure_sharpness(scene)
    from_grey = measure_sharpness(grey)
    assert from_bgr == pytest.approx(from_grey, rel=1e-6)
    # JPEG at quality 90 loses a little fine detail, no more.
    assert from_jpeg == pytest.approx(from_bgr, rel=0.15)


def test_reduced_decode_sizes(jpeg):
    assert decode_grey(jpeg, 1).shape == (360, 640)
    assert decode_grey(jpeg, 2).shape == (180, 320)
    assert decode_grey(jpeg, 8).shape == (45, 80)


def test_jpeg_size_reads_header_without_decoding(jpeg):
    assert jpeg_size(jpeg) == (640, 360)
    assert jpeg_size(b"not a jpeg") is None


def test_reduction_keeps_roi_detail():
    roi = (0.25, 0.25, 0.5, 0.5)
    assert choose_reduction(1920, 1080, roi, 160) == 4  # ROI 960 px -> 240 px
    assert choose_reduction(640, 480, roi, 160) == 2
    assert choose_reduction(320, 240, roi, 160) == 1


@pytest.mark.parametrize("roi, words", [
    ((0.1, 0.1, 0.5), "four numbers"),
    ("abc", "four numbers"),
    ((0.5, 0.5, 0.6, 0.2), "inside the frame"),
    ((-0.1, 0.0, 0.5, 0.5), "inside the frame"),
    ((0.1, 0.1, 0.0, 0.5), "greater than 0"),
    ((0.1, float("nan"), 0.3, 0.3), "finite"),
    ((10 ** 400, 0.0, 0.5, 0.5), "finite"),  # an int no float holds: OverflowError is no ValueError
])
def test_bad_roi_is_a_clear_value_error(jpeg, roi, words):
    with pytest.raises(ValueError, match="ROI") as err:
        measure_sharpness(jpeg, roi=roi)
    assert words in str(err.value)


def test_roi_too_small_in_pixels(jpeg):
    with pytest.raises(ValueError, match="at least 8x8"):
        measure_sharpness(jpeg, roi=(0.5, 0.5, 0.005, 0.005))


def test_unknown_measure_names_the_choices(jpeg):
    with pytest.raises(ValueError) as err:
        measure_sharpness(jpeg, measure="sharpness9000")
    assert "sharpness9000" in str(err.value) and "tenengrad" in str(err.value)


@pytest.mark.parametrize("frame, words", [
    (b"", "empty"),
    (b"<!DOCTYPE html><html><body>Login</body></html>", "HTML"),
    (b"\xff\xd8\xff\xe0garbage-not-a-real-jpeg" * 3, "Could not decode"),
    (np.zeros((0, 0), np.uint8), "empty"),
    (np.zeros((4, 4, 7), np.uint8), "shape"),
    (12345, "bytes or a numpy image"),
])
def test_undecodable_frame_is_a_clear_value_error(frame, words):
    with pytest.raises(ValueError) as err:
        measure_sharpness(frame)
    assert words in str(err.value)


def test_roi_selects_the_region(scene):
    # Left half of the frame: the drawn bed grid; a flat grey patch pasted on the right.
    img = scene.copy()
    img[:, 320:] = 128
    left = measure_sharpness(img, roi=(0.05, 0.1, 0.4, 0.8))
    right = measure_sharpness(img, roi=(0.55, 0.1, 0.4, 0.8))
    assert left > 0.1 and right < 1e-6


def test_scorer_scores_several_views_while_the_roi_is_big_enough(jpeg):
    small = FrameScorer().score(jpeg)  # 640x360: ROI decoded to 160x90
    big = FrameScorer().score(cv2.imencode(".jpg", draw_scene(2048, 1536))[1].tobytes())
    assert len(small.levels) == 4  # 160x90, 80x45, then the small 40x22 and 20x11
    assert len(big.levels) == 4  # 256x192 down to 32x24
    # Only the small views carry their detail in grey levels, for the search to check.
    assert small.detail[:2] == (None, None) and all(d > 0 for d in small.detail[2:])
    assert big.detail == (None,) * 4
    assert 50 < small.brightness < 200
