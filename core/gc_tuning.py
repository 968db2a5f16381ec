"""Garbage-collector settings for a long-running worker process.

Python's cyclic collector runs a young-generation pass every 700 net allocations and, as the
heap grows, full passes over every object. A worker holding hundreds of cached pathways (each
a sandboxed workflow instance) spent about 8% of its CPU there, all of it holding the GIL,
with full passes of 50-100 ms that stall every workflow task (docs/decisions.md, "Scale").
"""

import gc

# Young-generation passes every 20,000 net allocations instead of 700. Almost everything a
# step allocates is freed by reference counting before then; what survives is the same.
GEN0_THRESHOLD = 20_000


def tune_for_worker() -> None:
    """Call once, after start-up, before the worker takes work.

    ``gc.freeze`` moves what start-up built (modules, pydantic schemas, the sandbox's
    pristine modules) out of the collector's sight: it lives as long as the process, and
    full passes no longer walk it.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
