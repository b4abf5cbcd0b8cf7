"""What every frame source is: the engine's ``capture()``, plus a name and a lifetime."""
from __future__ import annotations

#: Wait this long after a move before a frame counts as fresh. Webcam pipelines deliver a
#: frame 2-5 frames (70-170 ms at 30 fps) after it was exposed, and a lens takes a few tens of
#: milliseconds to settle; 0.25 s covers both on the usual Pi set-ups.
DEFAULT_SETTLE = 0.25
#: Give up on a camera that sends nothing for this long.
DEFAULT_TIMEOUT = 5.0


def check_timing(settle: float, discard: int, timeout: float) -> None:
    """Raise ``ValueError`` for a negative settle time or discard count, or a timeout <= 0."""
    if not settle >= 0:
        raise ValueError(f"settle must be >= 0 seconds, got {settle!r}")
    if int(discard) != discard or discard < 0:
        raise ValueError(f"discard must be a whole number >= 0, got {discard!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")


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
