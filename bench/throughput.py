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
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.client import Client

from bench.bare import BareWorkflow
from bench.harness import WorkerProcess, dev_server, percentile, wait_for_pollers
from core.clock import local_date, system_time
from core.db import get_engine, migrate
from core.pathways import start_pathway, submit_step
from core.process_exit import exit_now
from demo import examples
from models.referral import Referral
from models.tables import PathwayRow
from models.vocab import Stage

UPDATES = 7  # the steps of examples.to_treatment
# The test stories' referral, under a name of the benchmark's own.
REFERRAL = examples.referral(
    patient={**examples.PATIENT, "family_name": "Benchmark", "given_name": "Synthetic"}
)


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
        plan = examples.to_treatment(local_date(system_time()))

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
    exit_now(main())  # not SystemExit: see core.process_exit
