"""A worker process tunes its garbage collector once it has started (core.gc_tuning)."""

import json
import subprocess
import sys

# In a process of its own: the collector's settings are global to the process.
PROGRAM = """
import gc
import json
from core.gc_tuning import tune_for_worker
before = gc.get_threshold()
tune_for_worker()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_a_started_worker_hides_its_start_up_objects_from_the_collector() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True
    ).stdout
    figures = json.loads(out)
    assert figures["frozen"] > 1000  # the modules start-up imported, at least
    # Full passes still come as often: they are what frees evicted pathways.
    assert figures["after"] == figures["before"]
