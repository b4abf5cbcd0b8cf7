"""A real third-party streamer for tests and benchmarks: ffmpeg serving ``mpjpeg`` over HTTP.

Webcam pipelines hold frames: the frame a client receives right after a lens move was
exposed one to several frames earlier. The in-process :class:`~servers.CameraServer` models
that with a fixed latency; this rig runs the real thing. A feeder thread renders the
simulated camera at the simulated lens's position at a fixed rate and writes each JPEG to
ffmpeg's stdin (``image2pipe``); ffmpeg copies or re-encodes the stream and serves it with
``-f mpjpeg -listen 1`` on 127.0.0.1, exactly as a user's ffmpeg would. PiFocus reads it
through its own MJPEG source.

Every rendered frame carries its sequence number as a bar code in the bottom rows (outside
any central region of interest, big enough to survive re-encoding), and the rig remembers
when each was rendered and where the lens physically was. So :meth:`FfmpegStream.origin`
says, for any frame a client received, whether it was exposed before or after a move: the
ground truth for "stale" frames.

    with FfmpegStream(camera, fps=30, size=(640, 480), encode="copy") as rig:
        source = MjpegStream(rig.url)

ffmpeg's ``-listen 1`` serves ONE client and then exits: one rig per client.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

#: Bits of the frame number in the bar code, and its cell size in pixels.
CODE_BITS = 16
CODE_CELL = 16
#: Rendered frames remembered for :meth:`FfmpegStream.origin`.
KEEP = 8192


@dataclass(frozen=True)
class Pipeline:
    """How ffmpeg passes frames on: ``copy`` (stream copy) or ``encode`` (re-encode to MJPEG,
    ``threads`` None = ffmpeg's automatic choice)."""

    fps: float = 30.0
    size: Tuple[int, int] = (640, 480)
    encode: str = "copy"
    threads: Optional[int] = None

    @property
    def name(self) -> str:
        kind = self.encode if self.threads is None else f"{self.encode} -threads {self.threads}"
        return f"{self.size[0]}x{self.size[1]} {self.fps:g} fps {kind}"

    def output_args(self) -> List[str]:
        if self.encode == "copy":
            return ["-c:v", "copy"]
        args = ["-c:v", "mjpeg", "-q:v", "4"]
        if self.threads is not None:
            args += ["-threads", str(self.threads)]
        return args


#: The pipelines of issue 12 §2: both sizes, both rates, copy and re-encoding.
PIPELINES = tuple(
    Pipeline(fps, size, encode, threads)
    for size in ((640, 480), (1280, 720))
    for fps in (30.0, 15.0)
    for encode, threads in (("copy", None), ("encode", None), ("encode", 1), ("encode", 4))
)


class Origin(NamedTuple):
    """Where the lens physically was when a frame was rendered, and when (monotonic).

    ``shows``: when the rig first saw the lens at the position the frame shows. Without a
    :attr:`FfmpegStream.lag` it is the render time of the first frame after that move; a
    frame is stale when it shows a position older than the last move before it was used.
    """

    seq: int
    position: float
    rendered: float
    shows: float = 0.0


def ffmpeg_path() -> Optional[str]:
    return shutil.which("ffmpeg")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stamp(image: np.ndarray, seq: int) -> None:
    """Write ``seq`` as a bar code of black and white cells into the bottom rows."""
    h = image.shape[0]
    image[h - CODE_CELL:, :CODE_CELL * (CODE_BITS + 2)] = 0
    image[h - CODE_CELL:, :CODE_CELL] = 255  # a white start cell: a reference for the threshold
    for bit in range(CODE_BITS):
        if seq >> bit & 1:
            x = CODE_CELL * (bit + 1)
            image[h - CODE_CELL:, x:x + CODE_CELL] = 255


def read_stamp(frame: bytes) -> Optional[int]:
    """The frame number :func:`stamp` wrote, or None if the frame has none."""
    image = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    h = image.shape[0]
    row = image[h - CODE_CELL // 2 - 2:h - CODE_CELL // 2 + 2].astype(np.float32)
    cells = [float(row[:, CODE_CELL * i + 4:CODE_CELL * (i + 1) - 4].mean()) for i in range(CODE_BITS + 2)]
    white, black = cells[0], cells[CODE_BITS + 1]
    if white - black < 100:
        return None
    middle = (white + black) / 2.0
    return sum(1 << bit for bit in range(CODE_BITS) if cells[bit + 1] > middle)


class FfmpegStream:
    """ffmpeg serving the simulated ``camera`` as ``mpjpeg`` at :attr:`url` (see the module)."""

    def __init__(self, camera, pipeline: Pipeline = Pipeline(), quality: int = 85) -> None:
        self.camera = camera
        self.pipeline = pipeline
        self.quality = quality
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/stream"
        self._origins: Dict[int, Origin] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proc: Optional[subprocess.Popen] = None
        self._feeder: Optional[threading.Thread] = None
        self._cache: Dict[int, np.ndarray] = {}
        self._noise: List[np.ndarray] = []
        self.rendered = 0
        #: Frames the feeder rendered late (the machine was too busy for the frame rate).
        self.late = 0
        #: Extra delay, in seconds, before a move shows in the rendered frames, given the
        #: positions before and after it: a deterministic jitter of the chain's delay (a
        #: sensor or encoder that sometimes holds frames), on top of ffmpeg's own.
        self.lag: Optional[Callable[[float, float], float]] = None
        self._moves: List[Tuple[float, float, float]] = []  # (due, position, seen), oldest first
        self._move_count = 0

    # ~~ lifetime

    def start(self) -> "FfmpegStream":
        binary = ffmpeg_path()
        if binary is None:
            raise RuntimeError("ffmpeg is not installed: run scripts/system-deps.sh test")
        fps = f"{self.pipeline.fps:g}"
        command = [binary, "-hide_banner", "-loglevel", "error", "-y",
                   "-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer",
                   "-f", "image2pipe", "-framerate", fps, "-c:v", "mjpeg", "-i", "pipe:0",
                   *self.pipeline.output_args(),
                   "-f", "mpjpeg", "-listen", "1", self.url]
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        self._prepare()
        self._feeder = threading.Thread(target=self._feed, daemon=True, name="ffmpeg-rig feeder")
        self._feeder.start()
        self._wait_listening()
        return self

    def stop(self) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(3)
        if self._feeder is not None:
            self._feeder.join(3)

    def __enter__(self) -> "FfmpegStream":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def errors(self) -> str:
        """ffmpeg's stderr so far (after :meth:`stop`)."""
        if self._proc is None or self._proc.stderr is None or self.alive:
            return ""
        return self._proc.stderr.read().decode(errors="replace")

    # ~~ ground truth

    def origin(self, frame: bytes) -> Optional[Origin]:
        """Where and when ``frame`` (as a client received it) was rendered."""
        seq = read_stamp(frame)
        if seq is None:
            return None
        with self._lock:
            return self._origins.get(seq)

    # ~~ the feeder

    def _prepare(self) -> None:
        width, height = self.pipeline.size
        scene = self.camera.scene
        if scene.shape[1] != width or scene.shape[0] != height:
            self.camera.scene = cv2.resize(scene, (width, height), interpolation=cv2.INTER_AREA)
        # A few noise fields, reused: fresh noise per frame costs more than a 30 fps budget
        # on a busy machine, and four fields are as good for any frame-to-frame comparison.
        noise = self.camera.noise
        rng = np.random.default_rng(7)
        self._noise = [(rng.standard_normal((height, width)) * noise).astype(np.float32)[:, :, None]
                       for _ in range(4)] if noise else []

    def _render(self, position: float, seq: int) -> bytes:
        # The blurred image depends only on the blur radius: cache it in 0.05 px steps.
        radius = self.camera.blur_radius(position)
        key = int(round(radius * 20))
        blurred = self._cache.get(key)
        if blurred is None:
            from octoprint_pifocus.sim.camera import disc_blur
            blurred = disc_blur(self.camera.scene, key / 20.0).astype(np.float32)
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = blurred
        image = blurred + self._noise[seq % len(self._noise)] if self._noise else blurred
        image = np.clip(image, 0, 255).astype(np.uint8)
        stamp(image, seq)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return data.tobytes()

    def _feed(self) -> None:
        interval = 1.0 / self.pipeline.fps
        start = time.monotonic()
        seq = 0
        while not self._stop.is_set():
            due = start + seq * interval
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            elif now - due > interval:
                self.late += 1
            # The position first, then the time: a frame that shows a move is never stamped
            # before it (a thread switch between the two would otherwise make it look stale).
            physical = self.camera.lens_position()
            moves = len(getattr(getattr(self.camera, "lens", None), "moves", ()))
            rendered = time.monotonic()
            position, shows = self._shown(physical, moves, rendered)
            data = self._render(position, seq & ((1 << CODE_BITS) - 1))
            with self._lock:
                self._origins[seq & ((1 << CODE_BITS) - 1)] = Origin(seq, position, rendered, shows)
                if len(self._origins) > KEEP:
                    self._origins.pop(next(iter(self._origins)))
            try:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return
            self.rendered += 1
            seq += 1

    def _shown(self, position: float, moves: int, now: float) -> Tuple[float, float]:
        """The position a frame rendered ``now`` shows, and when the rig saw the lens get
        there: the newest move whose :attr:`lag` has passed. ``moves`` counts the lens's
        moves, so a move back to the same position within one frame (an overshoot and the
        approach) is a move too."""
        if not self._moves or self._moves[-1][1] != position or moves != self._move_count:
            self._move_count = moves
            last = self._moves[-1][1] if self._moves else position
            extra = self.lag(last, position) if self.lag is not None and self._moves else 0.0
            self._moves.append((now + extra, position, now))
        due = [m for m in self._moves if m[0] <= now]
        if not due:
            return self._moves[0][1], self._moves[0][2]
        newest = due[-1]
        # Moves older than the one shown can no longer show.
        self._moves = self._moves[self._moves.index(newest):]
        return newest[1], newest[2]

    def _wait_listening(self, timeout: float = 10.0) -> None:
        """ffmpeg listens once it has read its first input frames."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                self.stop()
                raise RuntimeError(f"ffmpeg ended before it listened: {self.errors()}")
            if _listening(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"ffmpeg did not listen on {self.url} within {timeout:g} s")


def _listening(port: int) -> bool:
    """True if something listens on ``port``, without connecting (ffmpeg -listen 1 serves
    the first connection only, so a probe connection would use it up)."""
    try:
        with open("/proc/net/tcp") as table:
            lines = table.read().splitlines()[1:]
    except OSError:
        return True
    wanted = f"0100007F:{port:04X}"
    return any(parts[1] == wanted and parts[3] == "0A"
               for parts in (line.split() for line in lines) if len(parts) > 3)
