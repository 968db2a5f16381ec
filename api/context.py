"""What every request needs: settings, the read model, the Temporal client and a clock."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine
from temporalio.client import Client

from api.settings import ApiSettings
from core import clock
from core.config import Settings

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

    async def today(self) -> date:
        """Today in the centre's time zone by the app's clock (the workflows count days so)."""
        return clock.local_date(await self.clock())

    def temporal(self) -> Client:
        """The Temporal client (the app starts it before serving any request)."""
        if self.client is None:
            raise RuntimeError("the Temporal client is not connected yet")
        return self.client
