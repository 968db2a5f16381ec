"""Ending a process that used a Temporal client, without CPython's finalization."""

import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Flush logs and output, then end the process with ``code`` at once.

    A process that used a Temporal client can abort in CPython's finalization
    ("PyGILState_Release ... must be current", temporalio/sdk-python#300): the client's Rust
    threads outlive the interpreter, and the process exits with SIGABRT after its work is
    done. Skipping finalization avoids it.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
