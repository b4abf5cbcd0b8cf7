"""What every frame source is: the engine's ``capture()``, plus a name and a lifetime."""
from __future__ import annotations

import math

#: Wait this long after a move before a frame counts as fresh. Webcam pipelines deliver a
#: frame 2-5 frames (70-170 ms at 30 fps) after it was exposed, and a lens takes a few tens of
#: milliseconds to settle; 0.25 s covers both on the usual Pi set-ups.
DEFAULT_SETTLE = 0.25
#: Give up on a camera that sends nothing for this long.
DEFAULT_TIMEOUT = 5.0


#: The longest network timeout, in seconds: socket deadlines are timestamps, and an
#: infinite or astronomical timeout overflows them (OverflowError deep in a request).
TIMEOUT_MAX = 3600.0
#: The longest settle time after a move, in seconds.
SETTLE_MAX = 3600.0


def check_timing(settle: float, discard: int, timeout: float) -> None:
    """Raise ``ValueError`` unless settle is 0..SETTLE_MAX s, discard a whole number >= 0 and
    timeout more than 0 and at most TIMEOUT_MAX s (infinity and NaN are refused)."""
    if not (math.isfinite(settle) and 0 <= settle <= SETTLE_MAX):
        raise ValueError(f"settle must be a number of seconds from 0 to {SETTLE_MAX:g}, got {settle!r}")
    if not math.isfinite(discard) or int(discard) != discard or discard < 0:
        raise ValueError(f"discard must be a whole number >= 0, got {discard!r}")
    if not (math.isfinite(timeout) and 0 < timeout <= TIMEOUT_MAX):
        raise ValueError(f"timeout must be a number of seconds more than 0 and at most {TIMEOUT_MAX:g}, "
                         f"got {timeout!r}")


class FrameSource:
    """A camera over the network. :meth:`capture` returns JPEG bytes exposed after the last
    completed lens move; the engine calls it right after ``move_to()`` returns, so "after the
    move" means after the call to :meth:`capture`."""

    #: Human-readable, for messages and logs: "MJPEG stream http://host/...".
    name = "camera"

    def __init__(self, settle: float, discard: int, timeout: float) -> None:
        check_timing(settle, discard, timeout)
        self.settle = float(settle)
        self.discard = int(discard)
        self.timeout = float(timeout)

    def capture(self) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection (and thread); the source cannot be used afterwards."""

    def describe(self) -> str:
        return self.name

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
