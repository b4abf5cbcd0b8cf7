"""Which focus measure should be the default? Measured on the real stacks in tests/data/stacks.

For each measure and each degradation of the frames (none; sensor noise; noise plus JPEG
compression like a webcam stream's; a 10% exposure change on every other frame) it checks:

- ranking: does the measure pick the frame a person picks as sharpest (pcb: 004; steps:
  step0/step1; scorpion: the sharp frames 3, 4, 13 all above the blurred 1, 9, 10, 11)?
- contrast: best score / worst score over the stack. A measure that goes flat on noisy
  frames (contrast near 1) cannot tell focus from noise, however it ranks.

Frames are taken at 1024x768, the size of the repository's copies; with PIFOCUS_STACKS pointing
at the full-size originals they are scaled down to the same size, so both give the same table.

Run: ``python bench/measures.py`` (prints a Markdown table; ``--json FILE`` saves it).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from common import STACKS

from octoprint_pifocus.focus import measure_sharpness
from octoprint_pifocus.focus.measures import MEASURES


def load(folder: str, pattern: str, width: int = 1024):
    """The stack's frames as BGR arrays at webcam width (1024 px, as the repository's copies)."""
    files = sorted((STACKS / folder).glob(pattern), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise SystemExit(f"No frames matching {pattern} in {STACKS / folder} (see PIFOCUS_STACKS)")
    frames = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        frames.append(cv2.resize(img, (width, int(h * width / w)), interpolation=cv2.INTER_AREA))
    return frames


#: Degradations: (sensor noise sigma in grey levels, JPEG quality or None, exposure gain on odd frames).
KINDS = {
    "clean": (0.0, None, 1.0),
    "noise 8": (8.0, None, 1.0),
    "noise 20 + JPEG 70": (20.0, 70, 1.0),
    "exposure +10%": (0.0, None, 1.10),
}


def degrade(frames, kind: str, seed: int = 1):
    sigma, quality, gain = KINDS[kind]
    rng = np.random.default_rng(seed)
    out = []
    for i, img in enumerate(frames):
        f = img.astype(np.float32)
        if sigma:
            f += rng.normal(0, sigma, f.shape[:2])[:, :, None]
        if i % 2:
            f *= gain
        f = np.clip(f, 0, 255).astype(np.uint8)
        if quality:
            ok, data = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])
            out.append(data.tobytes())
        else:
            out.append(f)
    return out


def margin(name: str, scores) -> float:
    """How clearly the sharp frames win: > 1 means ranked right, the larger the safer.

    pcb: sharpest (004) / best other; steps: best of step0/1 / best of the rest;
    scorpion: weakest sharp frame (3, 4, 13) / strongest blurred one (1, 9, 10, 11).
    """
    s = np.asarray(scores, dtype=float)
    if name == "pcb":
        return s[4] / np.max(np.delete(s, 4))
    if name == "steps":
        return max(s[0], s[1]) / np.max(s[2:])
    sharp = [s[i - 1] for i in (3, 4, 13)]
    blurred = [s[i - 1] for i in (1, 9, 10, 11)]
    return min(sharp) / max(blurred)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    stacks = {
        "pcb": load("focus-stack_depthmap", "pcb_*.JPG"),
        "steps": load("cmcguinness_focusstack", "step*.jpg"),
        "scorpion": load("la3lma_scorpion_lapse", "scorpion_lapse_*"),
    }
    kinds = list(KINDS)
    results = {}
    for measure in MEASURES:
        row = {}
        for kind in kinds:
            margins = {}
            for name, frames in stacks.items():
                scores = [measure_sharpness(f, measure=measure) for f in degrade(frames, kind)]
                margins[name] = float(margin(name, scores))
                margins[name + " contrast"] = float(max(scores) / max(min(scores), 1e-12))
            row[kind] = margins
        results[measure] = row
    print("Cells: ranked right on all 3 stacks? weakest ranking margin (>1 is right) | "
          "pcb peak/trough contrast")
    print()
    print("| measure | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for measure, row in results.items():
        cells = []
        for k in kinds:
            worst = min(row[k][n] for n in stacks)
            cells.append(f"{'yes' if worst > 1 else 'NO'} {worst:.2f} / {row[k]['pcb contrast']:.1f}x")
        print(f"| {measure} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
