"""Focus measures: brightness invariance, ranking on real stacks, robustness to noise."""
import cv2
import numpy as np
import pytest

from octoprint_pifocus.focus import MEASURES, DEFAULT_MEASURE, measure_sharpness
from octoprint_pifocus.sim import disc_blur, draw_scene

ALL = sorted(MEASURES)


def webcam(img, noise=0.0, quality=None, seed=0):
    """Add sensor noise and JPEG compression, like a webcam stream."""
    out = img.astype(np.float32)
    if noise:
        out += np.random.default_rng(seed).normal(0, noise, out.shape[:2])[:, :, None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    if quality:
        return cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    return out


def at_1024(files):
    """The frames at 1024x768: the size of the copies in tests/data/stacks (a no-op there), and
    full-size originals from PIFOCUS_STACKS are brought down to it, so both give the same test."""
    return [cv2.resize(cv2.imread(str(p)), (1024, 768), interpolation=cv2.INTER_AREA) for p in files]


@pytest.fixture(scope="module")
def pcb(pcb_stack):
    return at_1024(pcb_stack)


@pytest.fixture(scope="module")
def scorpion(scorpion_stack):
    return at_1024(scorpion_stack)


@pytest.fixture(scope="module")
def scene():
    # Kept below 230 so that 10% more light does not clip.
    return (draw_scene(640, 360).astype(np.float32) * 0.85).astype(np.uint8)


@pytest.mark.parametrize("measure", ALL)
@pytest.mark.parametrize("blur", [0.0, 2.0])
def test_ten_percent_brighter_is_not_sharper(scene, measure, blur):
    img = disc_blur(scene, blur)
    brighter = np.clip(img.astype(np.float32) * 1.10, 0, 255).astype(np.uint8)
    lifted = np.clip(img.astype(np.float32) + 25, 0, 255).astype(np.uint8)
    base = measure_sharpness(img, measure=measure)
    assert measure_sharpness(brighter, measure=measure) == pytest.approx(base, rel=0.02)
    assert measure_sharpness(lifted, measure=measure) <= base * 1.001


@pytest.mark.parametrize("measure", ALL)
def test_blur_lowers_every_measure(scene, measure):
    scores = [measure_sharpness(disc_blur(scene, r), measure=measure) for r in (0, 1, 3, 8)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 1.2 * scores[-1]


@pytest.mark.parametrize("measure", ALL)
@pytest.mark.parametrize("noise, quality", [(0, None), (8, 70)])
def test_real_pcb_stack_ranks_sharp_above_blurred(pcb, measure, noise, quality):
    scores = [measure_sharpness(webcam(f, noise, quality, seed=i), measure=measure) for i, f in enumerate(pcb)]
    # pcb_004 is the sharpest by eye; 000, 008 and 009 are the most blurred.
    assert scores[4] > max(scores[0], scores[8], scores[9])


@pytest.mark.parametrize("noise, quality", [(0, None), (8, 70), (20, 70)])
def test_default_measure_picks_the_sharpest_pcb_frame(pcb, noise, quality):
    scores = [measure_sharpness(webcam(f, noise, quality, seed=i)) for i, f in enumerate(pcb)]
    assert int(np.argmax(scores)) == 4


@pytest.mark.parametrize("measure", ALL)
@pytest.mark.parametrize("noise", [0, 8])
def test_real_microscope_stack_ranks_sharp_above_blurred(scorpion, measure, noise):
    scores = [measure_sharpness(webcam(f, noise, 80, seed=i), measure=measure) for i, f in enumerate(scorpion)]
    sharp = [scores[i - 1] for i in (3, 4, 13)]
    blurred = [scores[i - 1] for i in (1, 9, 10, 11)]
    assert min(sharp) > max(blurred)


def test_default_keeps_its_peak_on_noisy_frames_where_laplacian_variance_goes_flat(pcb):
    def contrast(measure):
        s = [measure_sharpness(webcam(f, 20, 70, seed=i), measure=measure) for i, f in enumerate(pcb)]
        return max(s) / min(s)

    assert DEFAULT_MEASURE == "tenengrad"
    default, baseline = contrast(DEFAULT_MEASURE), contrast("laplacian_variance")
    assert default > 3.0
    assert baseline < 2.0
    assert default > 2 * baseline


def test_black_frame_scores_zero():
    assert measure_sharpness(np.zeros((100, 100), np.uint8)) == 0.0


def test_measure_names_are_forgiving_about_case_and_dashes(scene):
    assert measure_sharpness(scene, measure="Modified-Laplacian") == measure_sharpness(scene, measure="modified_laplacian")


@pytest.mark.parametrize("shape", [(3, 3), (8, 8), (134, 240), (768, 1024)])
def test_tenengrad_of_8_bit_frames_is_the_float_formula(pcb, shape):
    # 8-bit frames take a faster path (int16 gradients, squares summed by cv2.norm); it must
    # give the number of the float formula, on a real photograph (a view into it, as the ROI
    # crop gives) and on pure noise.
    from octoprint_pifocus.focus.measures import tenengrad
    h, w = shape
    photo = cv2.cvtColor(pcb[4], cv2.COLOR_BGR2GRAY)[100:100 + h, 50:50 + w]
    noise = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    for grey in (photo, noise):
        assert grey.dtype == np.uint8
        mean = float(cv2.mean(grey)[0])
        img = grey.astype(np.float32)
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        expected = float(np.mean(gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2)) / mean ** 2
        assert tenengrad(grey, mean) == pytest.approx(expected, rel=1e-9)
        assert tenengrad(img, mean) == pytest.approx(expected, rel=1e-6)
