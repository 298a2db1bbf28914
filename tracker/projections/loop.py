"""The projection worker: keeps the read models current in the background.

Writers already catch the projections up before they return (read-your-writes); this
loop covers everything else: writes from other processes, and a runner that died.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from tracker.projections.runner import run_once

__all__ = ["ProjectionWorker"]

log = logging.getLogger(__name__)


class ProjectionWorker:
    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self.engine, self.interval = engine, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projections", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                applied = run_once(self.engine)
                if applied:
                    log.info("projections advanced", extra={"events": applied})
            except Exception:  # the database may be down: keep trying, never die
                log.exception("projection run failed; retrying")
            self._stop.wait(self.interval)
