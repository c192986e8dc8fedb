"""The yardstick for `onevisit bench registrations`: a plain Temporal workflow of the registration's
shape (one step, one step, three in parallel) with no-op activities and Temporal's default data
converter. Its own module so that Temporal's workflow sandbox can import it by name."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

PLAIN_QUEUE = "onevisit-bench-plain"


@activity.defn(name="plain_step")
async def plain_step(step: str) -> str:
    return step


@workflow.defn(name="PlainRegistration")
class PlainRegistration:
    @workflow.run
    async def run(self, case_id: str) -> list[str]:
        opts = dict(start_to_close_timeout=timedelta(seconds=30))
        done = [await workflow.execute_activity(plain_step, f"{case_id}/name", **opts)]
        done.append(await workflow.execute_activity(plain_step, f"{case_id}/licence", **opts))
        done += await asyncio.gather(
            *(workflow.execute_activity(plain_step, f"{case_id}/{s}", **opts) for s in ("seals", "tax", "social"))
        )
        return done
