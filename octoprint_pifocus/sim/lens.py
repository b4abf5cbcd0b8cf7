"""A simulated voice-coil lens: 0-1023 codes, optional hysteresis, and a log of its moves."""
from __future__ import annotations

import threading
import time
from typing import List, Optional, Tuple, Union

from ..errors import MoveRefused

Number = Union[int, float]


class SimulatedLens:
    """A lens whose commanded and physical positions differ by a backlash band.

    With ``hysteresis`` h, the physical position trails the commanded one by up to h/2 in
    the direction of the last move, like a VCM with friction or a leadscrew with backlash:
    a position reached from below sits h/2 lower than the same position reached from above.
    """

    def __init__(
        self,
        limits: Tuple[Number, Number] = (0, 1023),
        resolution: Number = 1,
        hysteresis: float = 0.0,
        start: Number = 512,
        name: str = "simulated VCM",
        units: str = "code",
    ) -> None:
        self.limits = (limits[0], limits[1])
        self.resolution = resolution
        self.hysteresis = float(hysteresis)
        self.name = name
        self.units = units
        self._lock = threading.Lock()
        self._position = start
        self._actual = float(start)
        #: Every commanded position, in order: lets tests check the approach direction.
        self.moves: List[Number] = []
        #: When the last move completed (``time.monotonic()``), None before any: as a driver's.
        self.moved_at: Optional[float] = None

    @property
    def position(self) -> Number:
        return self._position

    @property
    def actual_position(self) -> float:
        """Where the lens physically is: what the simulated camera renders."""
        return self._actual

    def move_to(self, position: Number) -> None:
        low, high = self.limits
        if not (low <= position <= high):
            raise MoveRefused("sim.outside_range", position=position, low=low, high=high)
        with self._lock:
            half = self.hysteresis / 2.0
            if position - self._actual > half:
                self._actual = position - half
            elif self._actual - position > half:
                self._actual = position + half
            self._position = position
            self.moves.append(position)
            self.moved_at = time.monotonic()

    def probe(self) -> dict:
        return {"driver": "simulated", "name": self.name, "limits": list(self.limits),
                "position": self._position}

    def close(self) -> None:
        """Nothing to release; present so the simulated lens is a drop-in for a driver."""
