"""Running the MLLP listener as a process of its own or beside the others in `sirt dev`."""

import asyncio

from temporalio.client import Client

from core.config import Settings
from core.db import get_engine
from intake.loinc import load_intake_config
from intake.mllp import serve_mllp
from intake.service import Intake


def intake_for(settings: Settings, client: Client) -> Intake:
    """The intake with the configured read model and LOINC table."""
    engine = get_engine(settings.resolved_database_url)
    return Intake(client, engine, load_intake_config(settings.intake_config_file))


async def run_hl7_listener(
    settings: Settings,
    client: Client,
    host: str,
    port: int,
    stop: asyncio.Event,
    ready: "asyncio.Future[int] | None" = None,
) -> None:
    """Listen for HL7v2 over MLLP until ``stop``."""
    await serve_mllp(intake_for(settings, client), host, port, stop, ready)
