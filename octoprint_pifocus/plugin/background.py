"""One background thread a plugin part can start, stop and start again.

The webcam watchdog, the drift watch and the follow loop each run one daemon thread over all
devices; they differ only in what the thread does (:meth:`BackgroundThread._loop`). Stopping
hands the thread its own event, so a thread that outlives ``stop``'s wait still ends, and a
``start`` after ``stop`` (the plugin enabled again) gets a fresh one.
"""
from __future__ import annotations

import threading
from typing import Optional


class BackgroundThread:
    """Subclasses set :attr:`THREAD_NAME` and implement :meth:`_loop`."""

    THREAD_NAME = "pifocus-background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start the thread unless it runs; again after :meth:`stop` too."""
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,), name=self.THREAD_NAME,
                                            daemon=True)
            self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """Stop the thread; waits up to ``wait`` s for the work under way to end."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self, stop: threading.Event) -> None:
        raise NotImplementedError
