"""Steps per second of the pathway worker against bare Temporal, on one dev server.

    .venv/bin/python -m bench.throughput [--pathways 300] [--rounds 3]

Starts a Temporal dev server of its own, then runs, interleaved ``--rounds`` times, two
workers (each a child process, sized by the same SIRT_WORKER_* settings and using the same
payload codec):

- the pathway worker (``worker.py``, SQLite read model): ``--pathways`` complete referrals are
  parked at MDT review, then each takes seven Updates in turn (MDT decision, book the work-up,
  re-book it, record it, the dosimetry plan, book and record the treatment), all pathways at
  once;
- the bare baseline (``bench.bare``): as many workflows, each taking seven Updates that each
  run one trivial activity, with the same concurrency.

For each run it prints steps/s, p50/p95 Update latency, the worker's CPU per step and its
RSS; the last line is ``ratio <median of pathway steps/s / bare steps/s>``. Figures only.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.client import Client

from bench.bare import BareWorkflow
from bench.harness import WorkerProcess, dev_server, percentile, wait_for_pollers
from clinical.enums import Device, DosimetryMethod
from clinical.plan_check import PlanFigures, assess_plan
from core.clock import local_date, system_time
from core.db import get_engine, migrate
from core.pathways import start_pathway, submit_step
from models.referral import Referral
from models.steps import WorkupResult
from models.tables import PathwayRow
from models.vocab import Stage
from workflows.clinical_checks import workup_figures

UPDATES = 7
REFERRAL = {
    "patient": {
        "nhs_number": "943 476 5919",
        "family_name": "Benchmark",
        "given_name": "Synthetic",
        "date_of_birth": "1958-03-14",
    },
    "primary_site": "midgut",
    "grade": 2,
    "ki67_pct": 8.0,
    "baseline_cga_ug_l": 420.0,
    "referrer": "Dr A Referrer",
    "referring_trust": "Example NHS Foundation Trust",
}


def typed_doses(workup: dict[str, Any], tnr: float, activity_gbq: float) -> dict[str, float]:
    """The doses a physicist's software gives for this work-up (the plan must agree with
    what the pathway computes from it, or it is refused)."""
    checked = assess_plan(
        workup_figures(WorkupResult.model_validate(workup)),
        PlanFigures(
            device=Device.RESIN_Y90,
            method=DosimetryMethod.PARTITION,
            activity_gbq=activity_gbq,
            tumour_to_normal_ratio=tnr,
        ),
    )
    assert checked.doses is not None, checked.refusals
    d = checked.doses
    return {
        "predicted_lung_dose_gy": round(d.lung_gy, 2),
        "predicted_tumour_dose_gy": round(d.tumour_gy or 0, 2),
        "predicted_normal_liver_dose_gy": round(d.normal_liver_gy or 0, 2),
    }


def steps(today: date) -> list[tuple[str, dict[str, object]]]:
    """Seven real steps that can all happen today, on a real-time server."""
    day = today.isoformat()
    right, left = 1.2, 0.6
    positions = [
        {"position": "right hepatic", "activity_gbq": right},
        {"position": "left hepatic", "activity_gbq": left},
    ]
    return [
        (
            "mdt-decision",
            {
                "meeting_date": day,
                "net_experienced_mdt": True,
                "attendees": ["NET oncologist", "IR", "hepatobiliary surgeon"],
                "ecog": 1,
                "child_pugh_score": 5,
                "extrahepatic_disease": "none",
                "tumour_burden_pct": 30,
                "labs": {
                    "bilirubin_umol_l": 12,
                    "albumin_g_l": 40,
                    "platelets_10e9_l": 210,
                    "inr": 1.0,
                },
                "decision": "proceed",
            },
        ),
        ("schedule-workup", {"scheduled_on": day}),
        ("schedule-workup", {"scheduled_on": day}),
        (
            "workup",
            workup := {
                "performed_on": day,
                "vessels_studied": ["coeliac", "SMA", "right hepatic", "left hepatic"],
                "coils_placed": ["gastroduodenal"],
                "injection_positions": ["right hepatic", "left hepatic"],
                "scout_agent": "tc99m_maa",
                "scout_activity_mbq": 150,
                "lung_shunt_fraction": 0.08,
                "lsf_method": "spect_ct",
                "extrahepatic_uptake": [],
                "whole_liver_volume_ml": 1800,
                "tumour_volume_ml": 450,
                "perfused_volume_ml": 1800,
            },
        ),
        (
            "dosimetry-plan",
            {
                "device": "resin_y90",
                "method": "partition",
                "tumour_to_normal_ratio": 3.0,
                "positions": positions,
                **typed_doses(workup, 3.0, right + left),
                "physicist_signoff": {"physicist": "Medical Physicist", "signed_on": day},
            },
        ),
        ("schedule-treatment", {"scheduled_on": day}),
        (
            "treatment",
            {
                "performed_on": day,
                "positions": [
                    {"position": "right hepatic", "administered_activity_gbq": 1.2},
                    {"position": "left hepatic", "administered_activity_gbq": 0.6},
                ],
                "extent": "bilobar",
                "post_treatment_imaging": "y90_pet",
                "discharged_on": day,
            },
        ),
    ]


@dataclass
class Result:
    """One run of one worker."""

    kind: str
    steps_per_s: float
    p50_ms: float
    p95_ms: float
    cpu_ms_per_step: float
    rss_mb: float

    def line(self) -> str:
        return (
            f"{self.kind:<8} {self.steps_per_s:7.1f} steps/s  Update p50 {self.p50_ms:6.0f} ms"
            f"  p95 {self.p95_ms:6.0f} ms  worker CPU {self.cpu_ms_per_step:5.1f} ms/step"
            f"  RSS {self.rss_mb:5.0f} MB"
        )


async def timed_updates(
    worker: WorkerProcess, chains: list[Callable[[], Awaitable[list[float]]]], kind: str
) -> Result:
    """Run every chain at once; steps/s over the whole phase, latency per Update."""
    cpu = worker.cpu_seconds()
    start = time.monotonic()
    latencies = [ms for chain in await asyncio.gather(*(c() for c in chains)) for ms in chain]
    elapsed = time.monotonic() - start
    n = len(latencies)
    return Result(
        kind=kind,
        steps_per_s=n / elapsed,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        cpu_ms_per_step=(worker.cpu_seconds() - cpu) * 1000 / n,
        rss_mb=worker.rss_mb(),
    )


async def run_pathways(client: Client, workdir: Path, n: int, settings: dict[str, str]) -> Result:
    """Park ``n`` pathways at MDT review, then take each through seven Updates."""
    queue = f"bench-pathway-{uuid.uuid4()}"
    url = f"sqlite:///{workdir / (queue + '.db')}"
    migrate(url)
    engine = get_engine(url)
    with WorkerProcess.pathway(client, queue, url, settings) as worker:
        await wait_for_pollers(client, queue, worker)
        referral = Referral.model_validate(REFERRAL)
        ids = [
            h.id
            for h in await asyncio.gather(
                *(
                    start_pathway(client, referral, task_queue=queue, centre="BENCH")
                    for _ in range(n)
                )
            )
        ]
        while True:  # parked: the read model shows every pathway at MDT review
            worker.check()
            with Session(engine) as session:
                stmt = select(func.count()).where(
                    col(PathwayRow.id).in_(ids), PathwayRow.stage == Stage.MDT_REVIEW
                )
                if session.exec(stmt).one() == n:
                    break
            await asyncio.sleep(0.5)
        plan = steps(local_date(system_time()))

        def chain(pathway_id: str) -> Callable[[], Awaitable[list[float]]]:
            async def go() -> list[float]:
                laps = []
                for step, payload in plan:
                    t = time.monotonic()
                    await submit_step(client, pathway_id, step, payload)
                    laps.append((time.monotonic() - t) * 1000)
                return laps

            return go

        return await timed_updates(worker, [chain(i) for i in ids], "pathway")


async def run_bare(client: Client, n: int, settings: dict[str, str]) -> Result:
    """``n`` bare workflows, each taking seven Updates that run one activity each."""
    queue = f"bench-bare-{uuid.uuid4()}"
    # The same settings and codec as the pathway worker; only the program differs.
    pathway = WorkerProcess.pathway(client, queue, "sqlite://", settings)
    # Imported, not run as __main__: the sandbox cannot load a workflow from __main__.
    program = "import asyncio; from bench.bare import main; asyncio.run(main())"
    with WorkerProcess([pathway.argv[0], "-c", program], pathway.env) as worker:
        await wait_for_pollers(client, queue, worker)
        handles = await asyncio.gather(
            *(
                client.start_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4()}", task_queue=queue)
                for _ in range(n)
            )
        )

        def chain(workflow_id: str) -> Callable[[], Awaitable[list[float]]]:
            async def go() -> list[float]:
                laps = []
                handle = client.get_workflow_handle(workflow_id)
                for k in range(UPDATES):
                    t = time.monotonic()
                    await handle.execute_update(BareWorkflow.step, k)
                    laps.append((time.monotonic() - t) * 1000)
                return laps

            return go

        result = await timed_updates(worker, [chain(h.id) for h in handles], "bare")
        await asyncio.gather(*(h.signal(BareWorkflow.finish) for h in handles))
        return result


async def main_async(pathways: int, rounds: int) -> float:
    settings: dict[str, str] = {}
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        async with dev_server() as env:
            for r in range(1, rounds + 1):
                mine = await run_pathways(env.client, Path(tmp), pathways, settings)
                bare = await run_bare(env.client, pathways, settings)
                ratios.append(mine.steps_per_s / bare.steps_per_s)
                print(f"round {r} (N={pathways}, {UPDATES} Updates each):", flush=True)
                print("  " + mine.line(), flush=True)
                print("  " + bare.line(), flush=True)
                print(f"  ratio {ratios[-1]:.2f}", flush=True)
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pathways", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    ratio = asyncio.run(main_async(args.pathways, args.rounds))
    print(f"ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
