"""Park N pathways waiting on a human step with the real worker; report start rate and RSS.

    .venv/bin/python -m bench.open_pathways [--pathways 10000]

Starts a Temporal dev server of its own and the product's worker (``worker.py``, a child
process sized by SIRT_WORKER_* settings, SQLite read model), refers ``--pathways`` complete
referrals (at most 200 starts in flight), and waits until the read model shows every one at
MDT review, waiting for the MDT's decision. Prints the start rate (referrals accepted by
Temporal per second), the park rate (pathways projected at MDT review per second) and the
worker's RSS once all are parked; the last line is ``rss_mb <value>``. Figures only.
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from bench.harness import WorkerProcess, dev_server, wait_for_pollers
from bench.throughput import REFERRAL
from core.db import get_engine, migrate
from core.pathways import start_pathway
from core.process_exit import exit_now
from models.referral import Referral

IN_FLIGHT = 200


async def park(pathways: int) -> float:
    """Park the pathways; returns the worker's RSS in MB once all wait at MDT review."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'sirt.db'}"
        migrate(url)
        engine = get_engine(url)
        async with dev_server() as env:
            client = env.client
            queue = f"bench-open-{uuid.uuid4()}"
            with WorkerProcess.pathway(client, queue, url, {}) as worker:
                await wait_for_pollers(client, queue, worker)
                print(f"worker pid {worker.pid}, RSS idle {worker.rss_mb():.0f} MB", flush=True)
                referral = Referral.model_validate(REFERRAL)
                gate = asyncio.Semaphore(IN_FLIGHT)

                async def refer() -> None:
                    async with gate:
                        await start_pathway(client, referral, task_queue=queue, centre="BENCH")

                start = time.monotonic()
                await asyncio.gather(*(refer() for _ in range(pathways)))
                started = time.monotonic() - start
                print(f"started {pathways} in {started:.0f} s: {pathways / started:.1f}/s")
                parked = 0
                while parked < pathways:
                    worker.check()
                    await asyncio.sleep(5)
                    with engine.connect() as conn:
                        parked = conn.execute(
                            text("SELECT count(*) FROM pathway WHERE stage = 'MDT_REVIEW'")
                        ).scalar_one()
                    print(
                        f"  {time.monotonic() - start:5.0f} s  parked {parked:6d}"
                        f"  worker RSS {worker.rss_mb():4.0f} MB",
                        flush=True,
                    )
                elapsed = time.monotonic() - start
                print(f"parked {pathways} in {elapsed:.0f} s: {pathways / elapsed:.1f}/s")
                await asyncio.sleep(5)  # let the last workflow tasks finish before measuring
                return worker.rss_mb()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pathways", type=int, default=10_000)
    args = parser.parse_args(argv)
    rss = asyncio.run(park(args.pathways))
    print(f"rss_mb {rss:.0f}")
    return 0


if __name__ == "__main__":
    exit_now(main())  # not SystemExit: see core.process_exit
