"""The bench's CPU figures: each part read from /proc for its own process, the load's own process
counted apart and in the total, and per case."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.registrations import cpu_now, cpu_used


def test_each_part_is_charged_its_own_cpu_and_the_client_is_in_the_total():
    burner = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.5: pass\ninput()"],
        stdin=subprocess.PIPE,
    )
    idle = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE)
    try:
        pids = {"busy": burner.pid, "idle": idle.pid}
        before = cpu_now(pids)
        while cpu_now(pids)["busy"] - before["busy"] < 0.45:  # the burner's half second
            time.sleep(0.02)
        used = cpu_used(before, cpu_now(pids), cases=4, client=0.25)
    finally:
        for p in (burner, idle):
            p.kill()
            p.wait()
    assert used["parts"]["busy"] >= 0.45 and used["parts"]["idle"] < 0.1
    assert used["parts"]["client"] == 0.25
    assert used["total"] == round(sum(used["parts"].values()), 2)
    assert used["per_case"] == round(used["total"] / 4, 3)
    assert "client" not in cpu_used(before, before, cases=1)["parts"]  # none given: none counted
    assert cpu_used(before, before, cases=0)["per_case"] is None
