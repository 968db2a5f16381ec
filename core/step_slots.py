"""A bound on the steps one process waits on at once.

Temporal caps a namespace's waiting calls (the dev server at 1,200, worker polls included) and
refuses more, so a burst of steps must wait in the process instead (docs/decisions.md,
"Scale"). Every way the web app sends a step (the step API and pages, FHIR intake) takes a
slot from the same ``StepSlots``.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class NoSlot(Exception):
    """Every slot stayed taken for the whole wait: the step was never sent."""


class StepSlots:
    """At most ``size`` steps in flight; a step waits up to ``wait_s`` for a free slot."""

    def __init__(self, size: int, wait_s: float) -> None:
        self._free = asyncio.Semaphore(size)
        self.wait_s = wait_s

    def all_taken(self) -> bool:
        """Whether a step sent now would have to wait."""
        return self._free.locked()

    @asynccontextmanager
    async def taken(self) -> AsyncIterator[None]:
        """Hold a slot while the step is sent and answered; NoSlot if none frees in time."""
        try:
            await asyncio.wait_for(self._free.acquire(), self.wait_s)
        except TimeoutError:
            raise NoSlot from None
        try:
            yield
        finally:
            self._free.release()
