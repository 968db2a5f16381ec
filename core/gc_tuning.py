"""Garbage-collector settings for a long-running worker process.

A worker holding hundreds of cached pathways (each a sandboxed workflow instance) spent about
1.75 s of a 35 s benchmark round in Python's cyclic collector, all of it holding the GIL, with
full passes of up to 100 ms that stall every workflow task (docs/decisions.md, "Scale").
"""

import gc


def tune_for_worker() -> None:
    """Call once, after start-up, before the worker takes work.

    ``gc.freeze`` moves what start-up built (modules, pydantic schemas, the sandbox's
    pristine modules) out of the collector's sight: it lives as long as the process, and
    full passes no longer walk it. The thresholds stay as they are: full passes are what
    free evicted pathways (sandboxed instances are full of reference cycles), and making
    them rarer let a worker parking 10,000 pathways grow to 856 MB.
    """
    gc.collect()
    gc.freeze()
