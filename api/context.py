"""What every request needs: settings, the read model, the Temporal client and a clock."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine
from temporalio.client import Client

from api.settings import ApiSettings
from core import clock
from core.config import Settings
from core.step_slots import StepSlots

Clock = Callable[[], Awaitable[datetime]]


async def wall_clock() -> datetime:
    """The process's clock (core.clock); tests inject the time-skipping server's instead."""
    return clock.now()


@dataclass
class AppContext:
    """Held on ``app.state.ctx``; the client is set when the app starts."""

    settings: Settings
    api: ApiSettings
    engine: Engine
    clock: Clock = wall_clock
    client: Client | None = field(default=None)
    # Steps waiting on their Update (ApiSettings.max_steps_in_flight), so that a burst waits
    # here for a moment instead of meeting Temporal's limit on waiting calls.
    step_slots: StepSlots = field(init=False)

    def __post_init__(self) -> None:
        self.step_slots = StepSlots(self.api.max_steps_in_flight, self.api.step_slot_wait_s)

    async def today(self) -> date:
        """Today in the centre's time zone by the app's clock (the workflows count days so)."""
        return clock.local_date(await self.clock())

    def temporal(self) -> Client:
        """The Temporal client (the app starts it before serving any request)."""
        if self.client is None:
            raise RuntimeError("the Temporal client is not connected yet")
        return self.client
