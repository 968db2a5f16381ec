"""A worker process tunes its garbage collector once it has started (core.gc_tuning)."""

import json
import subprocess
import sys

from core.gc_tuning import GEN0_THRESHOLD

# In a process of its own: the collector's settings are global to the process.
PROGRAM = """
import gc
import json
from core.gc_tuning import tune_for_worker
before = gc.get_threshold()
tune_for_worker()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_a_started_worker_hides_its_start_up_objects_and_collects_young_ones_less_often() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True
    ).stdout
    figures = json.loads(out)
    before, after = figures["before"], figures["after"]
    assert after == [GEN0_THRESHOLD, before[1], before[2]]
    assert before[0] < GEN0_THRESHOLD
    assert figures["frozen"] > 1000  # the modules start-up imported, at least
