"""Decoding only the ROI's rows of JPEGs with restart markers must give the same pixels."""
import cv2
import numpy as np
import pytest

from octoprint_pifocus.focus.jpeg_band import roi_band
from octoprint_pifocus.focus.scoring import FrameScorer
from octoprint_pifocus.sim import draw_scene


def encode(img, restart=0, sampling=cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420):
    params = [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_RST_INTERVAL, restart,
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
    return cv2.imencode(".jpg", img, params)[1].tobytes()


@pytest.fixture(scope="module")
def scene():
    return draw_scene(1000, 700)


@pytest.mark.parametrize("restart", [1, 7, 63, 126])
@pytest.mark.parametrize("sampling", [cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
                                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
                                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
@pytest.mark.parametrize("roi", [(0.25, 0.25, 0.5, 0.5), (0.0, 0.0, 0.3, 0.2),
                                 (0.0, 0.7, 1.0, 0.3), (0.3, 0.41, 0.2, 0.17)])
def test_band_decode_is_pixel_identical(scene, restart, sampling, roi):
    data = encode(scene, restart, sampling)
    banded, whole = FrameScorer(roi), FrameScorer(roi)
    whole.use_bands = False
    a, b = banded.grey_roi(data), whole.grey_roi(data)
    assert a.shape == b.shape
    assert np.array_equal(a, b)


def test_band_is_smaller_and_keeps_the_rows(scene):
    per_row = -(-1000 // 16)
    data = encode(scene, per_row)
    band = roi_band(data, 0.25, 0.75)
    assert band is not None
    assert len(band.jpeg) < 0.75 * len(data)
    assert band.first_row <= 0.25 * 700 and band.first_row + band.height >= 0.75 * 700
    assert cv2.imdecode(np.frombuffer(band.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).shape == (band.height, 1000)


def test_no_restart_markers_means_no_band(scene):
    assert roi_band(encode(scene, 0), 0.25, 0.75) is None


def test_band_covering_almost_everything_is_not_worth_it(scene):
    assert roi_band(encode(scene, 1), 0.0, 0.95) is None


def test_not_a_jpeg_gives_no_band():
    assert roi_band(b"\x89PNG\r\n\x1a\n....", 0.2, 0.4) is None
    assert roi_band(b"", 0.2, 0.4) is None


def test_truncated_jpeg_falls_back(scene):
    data = encode(scene, 1)
    # Cut in the middle of the scan: marker count no longer adds up, so no band is made.
    assert roi_band(data[: len(data) // 2], 0.25, 0.5) is None


def test_header_walk_stops_at_a_cut_header(scene):
    from octoprint_pifocus.focus.jpeg_header import header_segments, jpeg_size

    data = encode(scene, 1)
    assert jpeg_size(data) == (1000, 700)
    assert [m for m, _, _ in header_segments(data)][-1] == 0xDA
    assert jpeg_size(data[:20]) is None  # cut before the SOF: no size, no crash
