"""Live case status for many watchers (``GET /api/v1/cases/{id}/events``, server-sent events).

One ``CaseFeed`` per gateway looks at the store every ``poll_s`` for the cases recorded since its
last look (one indexed query, however many watch) and wakes the watchers of those cases, which
then read their case once. An idle watcher costs its connection, a parked task and an
``asyncio.Event``: no query, no thread and no database connection while nothing changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.store import Case

log = logging.getLogger("onevisit.live")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CaseFeed:
    def __init__(self, engine: Engine, poll_s: float = 0.25):
        self.engine, self.poll_s = engine, poll_s
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._revisions: dict[str, int] = {}
        self._since: datetime | None = None
        self._task: asyncio.Task | None = None

    @property
    def watchers(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    @contextlib.asynccontextmanager
    async def watch(self, case_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``case_id`` is recorded anew (clear it after each wake-up)."""
        changed = asyncio.Event()
        self._watchers.setdefault(case_id, set()).add(changed)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="case-feed")
        try:
            yield changed
        finally:
            watchers = self._watchers.get(case_id, set())
            watchers.discard(changed)
            if not watchers:
                self._watchers.pop(case_id, None)
                self._revisions.pop(case_id, None)

    async def _run(self) -> None:
        """Look while anyone watches; stop when nobody does (the next watcher starts it again)."""
        while self._watchers:
            await asyncio.sleep(self.poll_s)
            try:
                changed = await asyncio.to_thread(self._look)
            except Exception:  # the store is busy or restarting: look again next time
                log.exception("case feed: reading the store failed")
                continue
            for case_id, revision in changed:
                if case_id in self._watchers and self._revisions.get(case_id) != revision:
                    self._revisions[case_id] = revision
                    for event in self._watchers[case_id]:
                        event.set()

    def _look(self) -> list[tuple[str, int]]:
        with Session(self.engine) as session:
            if self._since is None:  # from the newest record on: what watchers see first, they read themselves
                newest = session.exec(select(Case.updated_at).order_by(col(Case.updated_at).desc())).first()
                self._since = newest or EPOCH
                return []
            rows = session.exec(
                select(Case.id, Case.revision, Case.updated_at).where(col(Case.updated_at) >= self._since)
            ).all()
        if rows:
            self._since = max(r[2] for r in rows)
        return [(r[0], r[1]) for r in rows]
