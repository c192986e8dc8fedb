"""Heartbeats for running activities, all from one thread per process.

An activity heartbeats while it runs so that a worker killed mid-step is noticed by its missing
heartbeats (seconds) rather than by the attempt's timeout (a minute). One long-lived thread beats
for every running activity: starting a thread per activity cost a thread start each, and once hung
a worker's shutdown in ``Thread.start()`` (the new thread never reported itself started).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Iterator

from temporalio import activity

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 2.0  # well inside the engine's heartbeat timeout (workflows.engine.HEARTBEAT_TIMEOUT)


@dataclasses.dataclass(eq=False)
class _Beating:
    context: contextvars.Context  # the activity's: heartbeat() finds its activity there
    every_s: float
    due: float
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)  # held while it beats


class Heartbeats:
    """Beats for every registered activity, each every ``every_s`` seconds, from one daemon thread
    started on first use. Once ``beating`` has exited, no beat for it is made or still under way."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running: dict[int, _Beating] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def beating(self, every_s: float = HEARTBEAT_EVERY_S) -> Iterator[None]:
        entry = _Beating(contextvars.copy_context(), every_s, time.monotonic() + every_s)
        with self._cond:
            key = next(self._ids)
            self._running[key] = entry
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._running.pop(key, None)
            with entry.lock:  # a beat under way for it ends before the activity does
                pass

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [(k, e) for k, e in self._running.items() if e.due <= now]
                if not due:
                    wait = min((e.due for e in self._running.values()), default=now + 3600) - now
                    self._cond.wait(wait)
                    continue
                for _, entry in due:
                    entry.due = now + entry.every_s
            for key, entry in due:
                with entry.lock:
                    with self._cond:
                        if key not in self._running:  # ended meanwhile: no beat after its end
                            continue
                    try:
                        entry.context.run(activity.heartbeat)
                    except Exception:  # the activity is finishing: nothing left to keep alive
                        log.debug("heartbeat refused; the activity is ending", exc_info=True)
                        with self._cond:
                            self._running.pop(key, None)


_HEARTBEATS = Heartbeats()


def heartbeating(every_s: float = HEARTBEAT_EVERY_S) -> contextlib.AbstractContextManager[None]:
    """Heartbeat for the calling activity while the block runs (from this process's one beating thread)."""
    return _HEARTBEATS.beating(every_s)
