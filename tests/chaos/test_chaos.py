"""Pathways driven through every step while the deployment's processes are killed.

Real processes (tests/chaos/cluster.py): a Temporal dev server, two workers, the web app, two
schedulers with delivery, an SMTP sink and a webhook receiver, the PostgreSQL read model behind
a cuttable proxy. Referrers' clients drive pathways over the JSON API, retrying with the same
Idempotency-Key on 503 or a dropped connection, as the API tells them to. Meanwhile workers,
the delivery process mid-send, the active scheduler and the Temporal server are SIGKILLed (a
supervisor restarts each) and the read model is cut.

Then: no acknowledged step is lost, none is applied twice, the read model equals every
workflow's state, and every notification reached every channel at least once. The figures
(kills, steps, duplicates by channel, convergence time) are printed.

`make test` runs the reduced profile; `make chaos` (SIRT_CHAOS=full) the full one.
"""

import asyncio
import base64
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from api.accounts import issue_token
from api.seed import seed_demo_users
from core import clock
from core.clock import local_date
from core.config import Settings
from core.db import get_engine
from core.temporal import connect
from models.notifications import DeliveryRow
from models.state import PathwayState
from models.tables import OutboxRow, OutcomeRow, PathwayRow
from models.vocab import Role, Stage
from notifications.store import outbox_key
from tests import payloads
from tests.chaos.cluster import Cluster, owner_of_local_port, running_cluster, start, supervise
from tests.conftest import TEST_KEY
from tests.notifications.support import own_database
from tests.readmodel import assert_read_model_matches


@dataclass(frozen=True)
class Profile:
    """How big a run is: pathways, the faults in order, and how the load is spread."""

    pathways: int
    faults: tuple[str, ...]
    spread_s: float  # referrals start spread over this long, so steps meet every fault
    pace_s: float  # a user's pause between two steps
    gap_s: float  # between two faults
    cut_s: float  # how long the read model is cut


PROFILES = {
    # Inside `make test`: one fault of each kind.
    "reduced": Profile(
        pathways=6,
        faults=("worker", "scheduler", "temporal", "delivery", "cut", "accepted"),
        spread_s=4,
        pace_s=0.1,
        gap_s=1.0,
        cut_s=3,
    ),
    # `make chaos`.
    "full": Profile(
        pathways=24,
        faults=(
            *("worker", "delivery", "accepted", "scheduler", "delivery", "worker", "temporal"),
            *("accepted", "delivery", "cut", "worker", "scheduler", "accepted", "worker"),
            *("temporal", "accepted", "delivery", "worker", "scheduler", "accepted", "worker"),
            *("delivery", "accepted", "worker", "accepted", "worker", "accepted", "worker"),
        ),
        spread_s=60,
        pace_s=0.5,
        gap_s=3,
        cut_s=20,
    ),
}
PROFILE_NAME = os.environ.get("SIRT_CHAOS", "reduced")

C, MDT, IR, PHYS = (
    Role.COORDINATOR,
    Role.MDT_CLINICIAN,
    Role.INTERVENTIONAL_RADIOLOGIST,
    Role.PHYSICIST,
)
USERS = {C: "coordinator", MDT: "mdt", IR: "radiologist", PHYS: "physicist"}

# Every step of a pathway up to follow-up. The referral lacks two items, so triage
# re-requests them three times (each a message to the referrer, as the referral's own request
# was): four messages per pathway, each to two channels.
STEPS: tuple[tuple[str, Role, Callable[[date], dict[str, Any]]], ...] = (
    ("triage", C, lambda _d: {"complete": False, "missing_items": ["grade", "ki67_pct"]}),
    ("triage", C, lambda _d: {"complete": False, "missing_items": ["ki67_pct"]}),
    ("triage", C, lambda _d: {"complete": False, "missing_items": ["ki67_pct"]}),
    ("triage", C, lambda _d: {"complete": True}),
    ("mdt-decision", MDT, payloads.mdt),
    ("schedule-workup", C, lambda d: {"scheduled_on": d.isoformat()}),
    ("workup", IR, payloads.workup),
    ("dosimetry-plan", PHYS, payloads.plan),
    ("schedule-treatment", C, lambda d: {"scheduled_on": d.isoformat()}),
    ("treatment", IR, payloads.treatment),
)
# What each pathway's read model must hold once: a step applied twice would show here.
OUTCOMES = Counter(
    {
        "referral": 1,
        "triage": 4,
        "mdt_decision": 1,
        "schedule_workup": 1,
        "workup": 1,
        "dosimetry_plan": 1,
        "schedule_treatment": 1,
        "treatment": 1,
    }
)
STAGES = [
    Stage.REFERRED,
    Stage.MDT_REVIEW,
    Stage.WORKUP,
    Stage.DOSIMETRY_PLANNING,
    Stage.TREATMENT_SCHEDULED,
    Stage.FOLLOW_UP,
]
CHANNELS = ("mail", "hook")


@dataclass
class Figures:
    pathways: list[str] = field(default_factory=list)
    steps: int = 0  # acknowledged (2xx) steps and referrals
    answers: Counter[str] = field(default_factory=Counter)  # retried answers by kind
    missed: Counter[str] = field(default_factory=Counter)  # faults that found nothing to hit
    cut_s: float = 0.0
    convergence_s: float = 0.0
    startup_s: float = 0.0
    driven_at: float = 0.0
    fault_s: dict[str, float] = field(default_factory=dict)  # time spent in each kind
    faults_s: float = 0.0


class Driver:
    """A referrer's and the team's clients on the JSON API, retrying as the API says to."""

    def __init__(self, http: httpx.AsyncClient, tokens: dict[Role, str], figures: Figures):
        self.http = http
        self.tokens = tokens
        self.figures = figures

    async def call(self, path: str, role: Role, key: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", "Idempotency-Key": key}
        deadline = time.monotonic() + 300
        while True:
            assert time.monotonic() < deadline, f"{path}: no answer within 300 s"
            try:
                r = await self.http.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                self.figures.answers[f"connection {type(exc).__name__}"] += 1
            else:
                if r.status_code in (200, 201):
                    self.figures.steps += 1
                    return r.json()
                if r.status_code != 503:
                    # Not an outage's answer: counted (the test asserts there are none).
                    self.figures.answers[f"HTTP {r.status_code}: {r.text[:200]}"] += 1
                else:
                    self.figures.answers["HTTP 503"] += 1
            await asyncio.sleep(0.5)

    async def visible(self, pid: str) -> None:
        headers = {"Authorization": f"Bearer {self.tokens[C]}"}
        deadline = time.monotonic() + 300
        while True:
            assert time.monotonic() < deadline, f"{pid} not in the read model within 300 s"
            try:
                r = await self.http.get(f"/api/v1/pathways/{pid}", headers=headers)
            except httpx.TransportError as exc:
                self.figures.answers[f"connection {type(exc).__name__}"] += 1
            else:
                if r.status_code == 200:
                    return
                if r.status_code == 404:
                    self.figures.answers["referred, not yet in the read model: 404"] += 1
                elif r.status_code == 503:
                    self.figures.answers["HTTP 503"] += 1
                else:
                    self.figures.answers[f"HTTP {r.status_code}: {r.text[:200]}"] += 1
            await asyncio.sleep(0.5)

    async def pathway(self, n: int, run: str, delay: float, pace: float) -> None:
        await asyncio.sleep(delay)
        referral = payloads.referral(grade=None, ki67_pct=None).model_dump(mode="json")
        accepted = await self.call("/api/v1/pathways", C, f"{run}-{n}-refer", referral)
        pid = accepted["pathway_id"]
        self.figures.pathways.append(pid)
        if accepted["stage"] is None:
            # The referral is started but not in the read model yet (its answer says so):
            # a client waits for the pathway to show before stepping it.
            await self.visible(pid)
        for i, (step, role, payload) in enumerate(STEPS):
            await asyncio.sleep(pace)
            today = local_date(clock.now())
            path = f"/api/v1/pathways/{pid}/steps/{step}"
            await self.call(path, role, f"{run}-{n}-{i}", payload(today))
        self.figures.driven_at = max(self.figures.driven_at, time.monotonic())


async def inject(cluster: Cluster, profile: Profile, figures: Figures) -> None:
    """The faults of the profile, in order, ``gap_s`` apart."""
    rng = random.Random(14)
    workers = 0
    for fault in profile.faults:
        await asyncio.sleep(profile.gap_s)
        t0 = time.monotonic()
        if fault == "worker":
            cluster.group("worker")[workers % 2].kill()
            workers += 1
            cluster.kills["worker"] += 1
        elif fault == "delivery":
            if await kill_mid_send(cluster):
                cluster.kills["delivery process mid-send"] += 1
            else:
                figures.missed["delivery: no send in flight within 20 s"] += 1
        elif fault == "accepted":
            after = rng.uniform(0.0, 0.02)
            if await kill_after_acceptance(cluster, after):
                cluster.kills["delivery process 0-20 ms after the relay's 250"] += 1
            else:
                figures.missed["accepted: no mail accepted within 20 s"] += 1
        elif fault == "scheduler":
            active = cluster.active_scheduler()
            if active is None:
                figures.missed["scheduler: none active"] += 1
                continue
            active.kill()
            cluster.kills["active scheduler"] += 1
        elif fault == "temporal":
            cluster.kill_temporal()
            await asyncio.sleep(2 + rng.random())
            await cluster.restart_temporal()
        elif fault == "cut":
            cluster.proxy.cut()
            cut_at = time.monotonic()
            await asyncio.sleep(profile.cut_s)
            cluster.proxy.restore()
            figures.cut_s += time.monotonic() - cut_at
            cluster.kills["read model cut"] += 1
        figures.fault_s[fault] = figures.fault_s.get(fault, 0.0) + time.monotonic() - t0


async def kill_mid_send(cluster: Cluster) -> bool:
    """SIGKILL the scheduler whose SMTP send the sink is receiving right now."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        schedulers = {s.pid: s for s in cluster.group("scheduler") if s.alive()}
        for port in list(cluster.mail.in_flight):
            pid = owner_of_local_port(port, list(schedulers))
            if pid is not None:
                schedulers[pid].kill()
                return True
        await asyncio.sleep(0.02)
    return False


async def kill_after_acceptance(cluster: Cluster, after: float) -> bool:
    """SIGKILL the scheduler that sends the next mail, ``after`` seconds after the sink
    accepted it: the worst moment, when the send is done and its record may not be."""
    struck = threading.Event()
    schedulers = {s.pid: s for s in cluster.group("scheduler") if s.alive()}

    def strike(port: int) -> None:
        pid = owner_of_local_port(port, list(schedulers))
        if pid is not None:
            schedulers[pid].kill()
        struck.set()

    cluster.mail.after_accept = after
    cluster.mail.on_accept = strike
    hit = await asyncio.to_thread(struck.wait, 20)
    cluster.mail.on_accept = None
    return hit


def converged(engine: Engine, cluster: Cluster, states: dict[str, PathwayState]) -> None:
    """Raises AssertionError until the read model and the receivers have caught up."""
    for pid, state in states.items():
        assert state.stage == Stage.FOLLOW_UP, (pid, state.stage)
        assert_read_model_matches(engine, state)
    with Session(engine) as session:
        outbox = session.exec(select(OutboxRow)).all()
        assert outbox, "no notification was written"
        pending = [o.id for o in outbox if o.delivered_at is None]
        assert not pending, f"{len(pending)} notifications not delivered yet"
    mailed = set(cluster.mail.delivered_keys())
    hooked = {d["id"] for d in cluster.hooks.at("/referrer")}
    keys = {outbox_key(o.id, o.send_at) for o in outbox}
    assert keys <= mailed and keys <= hooked, "not every message reached every channel yet"


async def live_states(client: Any, pids: list[str]) -> dict[str, PathwayState]:
    states = {}
    for pid in pids:
        handle = client.get_workflow_handle(pid)
        states[pid] = await handle.query("state", result_type=PathwayState)
    return states


@pytest.mark.real_time
async def test_pathways_survive_kills_of_every_process_and_a_read_model_outage(
    tmp_path: Path,
) -> None:
    profile = PROFILES[PROFILE_NAME]
    figures = Figures()
    run = f"chaos-{tmp_path.name}"
    # `make chaos` keeps the processes' logs where it says; otherwise pytest's tmp_path.
    logs = Path(os.environ.get("SIRT_CHAOS_LOGS") or tmp_path)
    logs.mkdir(parents=True, exist_ok=True)
    with own_database() as db_url, running_cluster(logs, db_url) as cluster:
        engine = get_engine(db_url)
        logins = {role: login for login, _, role in seed_demo_users(engine)}
        tokens = {role: issue_token(engine, logins[role.value], "chaos") for role in USERS}
        t_start = time.monotonic()
        await start(cluster)
        figures.startup_s = time.monotonic() - t_start
        t_start = time.monotonic()
        stop = asyncio.Event()
        supervisor = asyncio.create_task(supervise(cluster, stop))
        async with httpx.AsyncClient(base_url=cluster.base, timeout=40) as http:
            driver = Driver(http, tokens, figures)
            spread = profile.spread_s / profile.pathways
            drivers = [
                driver.pathway(n, run, n * spread, profile.pace_s) for n in range(profile.pathways)
            ]
            await asyncio.gather(inject(cluster, profile, figures), *drivers)
        figures.faults_s = time.monotonic() - t_start
        print(f"drivers done at {figures.driven_at - t_start:.0f} s")
        # Every fault is over and every process is back: how long until all is consistent?
        t0 = time.monotonic()
        settings = Settings(
            temporal_address=cluster.temporal.address,
            encryption_key=base64.b64encode(TEST_KEY).decode(),
        )
        client = await connect(settings)
        last: AssertionError | None = None
        while time.monotonic() - t0 < 180:
            try:
                converged(engine, cluster, await live_states(client, figures.pathways))
                break
            except AssertionError as exc:
                last = exc
                await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"not consistent 180 s after the last fault: {last}")
        figures.convergence_s = time.monotonic() - t0
        stop.set()
        await supervisor
        report(cluster, engine, figures, profile)
        check(cluster, engine, figures, profile, await live_states(client, figures.pathways))


def duplicates(cluster: Cluster) -> dict[str, tuple[int, int, int]]:
    """Per channel: (transmissions, distinct messages, messages received more than once)."""
    mail = Counter(str(m["X-SIRT-Idempotency-Key"]) for m in cluster.mail.raw)
    hook = Counter(cluster.hooks.posts("/referrer"))
    return {
        name: (sum(c.values()), len(c), sum(1 for n in c.values() if n > 1))
        for name, c in (("mail", mail), ("hook", hook))
    }


def report(cluster: Cluster, engine: Engine, figures: Figures, profile: Profile) -> None:
    with Session(engine) as session:
        resends = dict(
            session.exec(
                select(DeliveryRow.channel, func.sum(DeliveryRow.resends)).group_by(
                    col(DeliveryRow.channel)
                )
            ).all()
        )
    recovered = sum(
        s.log.read_text(errors="replace").count("was accepted before a crash; not resent")
        for s in cluster.group("scheduler")
    )
    crashes = {s.name: s.crashes for s in cluster.services.values() if s.crashes}
    lines = [
        f"logs: {cluster.tmp}",
        f"chaos ({PROFILE_NAME}): {len(figures.pathways)} pathways, "
        f"{figures.steps} acknowledged API calls (referrals and {len(STEPS)} steps each)",
        "kills: "
        + ", ".join(f"{k} {n}" for k, n in sorted(cluster.kills.items()))
        + f" (read model cut for {figures.cut_s:.0f} s in all)",
        f"faults that found nothing to hit: {dict(figures.missed) or 'none'}",
        f"exits after a dependency's outage, restarted: {crashes or 'none'}",
        f"answers retried by the clients: {dict(figures.answers) or 'none'}",
    ]
    for channel, (sent, distinct, twice) in duplicates(cluster).items():
        lines.append(
            f"{channel}: {sent} transmissions of {distinct} messages, {twice} received twice "
            f"or more ({sent - distinct} extra copies); lease resends recorded "
            f"{resends.get(channel, 0)}"
        )
    lines.append(f"sends accepted before a crash, recorded on reclaim, not resent: {recovered}")
    lines.append(f"convergence after the last fault: {figures.convergence_s:.1f} s")
    lines.append(f"start-up {figures.startup_s:.0f} s, load under faults {figures.faults_s:.0f} s")
    spent = ", ".join(f"{k} {v:.1f} s" for k, v in figures.fault_s.items())
    lines.append(f"time spent injecting each kind of fault: {spent}")
    print("\n" + "\n".join(lines))


def check(
    cluster: Cluster,
    engine: Engine,
    figures: Figures,
    profile: Profile,
    states: dict[str, PathwayState],
) -> None:
    # Every pathway started once and every acknowledged step is in it, once.
    assert len(figures.pathways) == len(set(figures.pathways)) == profile.pathways
    assert figures.steps == profile.pathways * (1 + len(STEPS))
    with Session(engine) as session:
        recorded = {
            pid: Counter(
                session.exec(select(OutcomeRow.kind).where(col(OutcomeRow.pathway_id) == pid))
            )
            for pid in states
        }
        pathway_rows = session.exec(select(func.count()).select_from(PathwayRow)).one()
    # A step acknowledged but not recorded is lost; one recorded twice is a duplicate row.
    lost = sum((OUTCOMES - kinds).total() for kinds in recorded.values())
    doubled = sum((kinds - OUTCOMES).total() for kinds in recorded.values())
    doubled += pathway_rows - profile.pathways
    print(f"lost steps {lost}, duplicate rows {doubled} (recorded steps and pathways)")
    assert (lost, doubled) == (0, 0)
    with Session(engine) as session:
        for pid, state in states.items():
            assert [h.stage for h in state.history] == STAGES, pid
            kinds = recorded[pid]
            assert kinds == OUTCOMES, (pid, kinds)
            assert sum(kinds.values()) == state.outcome_counter
            assert_read_model_matches(engine, state)
    # Outages were answered 503 or a dropped connection, never with another error.
    unexpected = {
        k: n for k, n in figures.answers.items() if k.startswith("HTTP ") and "503" not in k
    }
    assert not unexpected, unexpected
    # Every message reached each channel; each channel got exactly the messages there are.
    with Session(engine) as session:
        outbox = session.exec(select(OutboxRow)).all()
    keys = {outbox_key(o.id, o.send_at) for o in outbox}
    assert len(keys) == 4 * profile.pathways  # the referral's request and triage's three
    assert keys <= set(cluster.mail.delivered_keys())
    assert keys <= {d["id"] for d in cluster.hooks.at("/referrer")}
