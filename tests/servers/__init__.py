"""Real HTTP servers on 127.0.0.1 for tests of the frame sources (and, later, OctoPrint's
webcam side): a lagging, optionally misbehaving MJPEG + snapshot webcam, the stream layouts
of real webcam servers, and frames of the simulated camera that remember where the lens was.

    from servers import CameraServer, SimFrames     # tests/ is on sys.path under pytest

    frames = SimFrames(SimulatedCamera(draw_scene(480, 270), lens, focus_position=400))
    with CameraServer(frames, fps=50, latency=4) as server:
        ...  # server.stream_url, server.snapshot_url, server.misbehave(status=404)
"""
from .camera_server import CameraServer, Misbehaviour, refused_url
from .frames import Origin, SimFrames, encode_jpeg, sim_frames
from .styles import STYLES, StreamStyle

__all__ = ["CameraServer", "Misbehaviour", "refused_url", "SimFrames", "Origin", "encode_jpeg", "sim_frames", "STYLES",
           "StreamStyle"]
