"""The `sirt` command line: run the embedded product, refer patients, follow pathways."""

import asyncio
import contextlib
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine, make_url
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api import audit
from api.audit import Outcome
from api.deps import is_pathway_id
from api.permissions import step_action
from api.queries import duplicate_message, free_text_identifiers, open_duplicate
from cli import services
from cli.demo import demo_app
from cli.dev import run_dev, safe_url
from cli.dosimetry import dosimetry
from cli.errors import (
    EXIT_INVALID,
    NOT_RUNNING_HINT,
    CliError,
    handle_errors,
    read_json_object,
    validation_lines,
)
from cli.events import events_app
from cli.hl7 import hl7_app
from cli.identity import TOKEN_ENV, cli_principal
from cli.keys import app as keys_app
from cli.notify import notify_app
from cli.output import fmt, table, to_json
from cli.runtime import run_async
from cli.users import app as users_app
from cli.views import pathway_list, pathway_status
from core import clock
from core.codec import KeyConfigError
from core.config import Settings
from core.db import get_engine
from core.pathways import (
    IDEMPOTENCY_KEY_RULE,
    STEPS,
    ReferralKey,
    centre_pathway_config,
    new_idempotency_key,
    parse_step,
    referral_pathway_id,
    start_pathway,
    submit_step,
    valid_idempotency_key,
)
from core.process_exit import exit_now
from core.temporal import TlsSettingError, connect
from models.labels import label_path
from models.referral import PrimarySite, PriorTherapyKind, Referral, identity_problems
from models.state import PathwayState, StepOutcome
from models.vocab import Stage


class _ExitingTyper(typer.Typer):
    """Ends the process at once (core.process_exit) when the command has finished.

    CliRunner never calls this, so tests are unaffected.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            super().__call__(*args, **kwargs)
            code = 0
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        exit_now(code)


app = _ExitingTyper(
    help="SIRT Pathway: run the care-pathway engine, refer patients and follow their pathways.\n\n"
    "Configured by environment variables (SIRT_DATA_DIR, SIRT_TEMPORAL_ADDRESS, "
    "SIRT_TASK_QUEUE, DATABASE_URL, SIRT_ENCRYPTION_KEY ...) or a .env file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

STEP_NAMES = ", ".join(STEPS)
STAGE_NAMES = ", ".join(Stage)


def settings() -> Settings:
    """Fresh settings per command, so the environment of this invocation always counts."""
    return Settings()


async def temporal_client(s: Settings) -> Client:
    """A connected client, or a message saying what to start."""
    try:
        return await connect(s)
    except (KeyConfigError, TlsSettingError) as exc:
        raise CliError(str(exc)) from None
    except RuntimeError as exc:
        if "connect" not in str(exc).lower():
            raise
        raise CliError(
            f"cannot reach Temporal at {s.temporal_address}: {NOT_RUNNING_HINT}"
        ) from None


def read_engine(s: Settings) -> Engine:
    """The read model's engine; a missing SQLite file is an error, not a new empty database."""
    url = make_url(s.resolved_database_url)
    database = url.database or ""
    is_file = url.drivername.startswith("sqlite") and database not in ("", ":memory:")
    if is_file and not Path(database).exists():
        raise CliError(
            f"no read model at {database}: start `sirt dev` first, or set "
            "SIRT_DATA_DIR / DATABASE_URL to where it runs"
        )
    return get_engine(s.resolved_database_url)


# ------------------------------------------------------------------------------------ dev


@app.command()
@handle_errors
def dev() -> None:
    """Run everything here: migrations, the Temporal dev server with its Web UI, a worker.

    Data lives under SIRT_DATA_DIR (.data/). Ctrl-C stops the worker, then the server.
    """
    run_dev(settings(), typer.echo)


# ---------------------------------------------------------------------------------- refer


def _parse_prior_therapy(spec: str) -> dict[str, str]:
    kind, _, rest = spec.partition(":")
    last_given_on, _, cycles = rest.partition(":")
    item = {"kind": kind}
    if last_given_on:
        item["last_given_on"] = last_given_on
    if cycles:
        item["cycles"] = cycles
    return item


def _set(data: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        data[key] = value


# Referrals made from this command line share one scope: the centre's operators.
CLI_SCOPE = "cli"


def _checked_key(key: str | None, option: str) -> str | None:
    if key is not None and not valid_idempotency_key(key):
        raise CliError(f"{option}: must be {IDEMPOTENCY_KEY_RULE}", EXIT_INVALID)
    return key


class DuplicateReferral(CliError):
    """The NHS number already has an open pathway and no reason for a second was given."""

    def __init__(self, pathway_id: str) -> None:
        super().__init__(f"{duplicate_message(pathway_id)}: give it with --second-pathway-reason")
        self.pathway_id = pathway_id


async def _start(
    s: Settings, engine: Engine, referral: Referral, key: ReferralKey
) -> tuple[str, PathwayState | None]:
    client = await temporal_client(s)
    # The API's rule: a keyed referral sent again is not its own duplicate.
    same = referral_pathway_id(client, s.centre, key)
    other = await asyncio.to_thread(open_duplicate, engine, referral, same)
    if other is not None:
        raise DuplicateReferral(other)
    config = centre_pathway_config(s.pathway_config_file)
    handle = await start_pathway(
        client, referral, task_queue=s.task_queue, centre=s.centre, config=config, referral_key=key
    )
    return handle.id, await _settled_state(handle)


async def _settled_state(
    handle: WorkflowHandle[Any, PathwayState], wait: float = 5.0
) -> PathwayState | None:
    """The pathway once it waits for someone (an open task) or has ended; None if no worker
    got that far within ``wait`` seconds. Only a hint: the read model is the record."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        with contextlib.suppress(Exception):
            state: PathwayState = await handle.query(
                "state", result_type=PathwayState, rpc_timeout=timedelta(seconds=2)
            )
            if state.stage.is_terminal or any(t.is_open for t in state.tasks.values()):
                return state
        await asyncio.sleep(0.25)
    return None


_PATIENT_PROMPTS = {
    "nhs_number": "NHS number",
    "family_name": "Family name",
    "given_name": "Given name",
    "date_of_birth": "Date of birth (14/03/1958 or 1958-03-14)",
}


def _prompt_patient() -> dict[str, str]:
    """The patient's identity, asked for at the terminal (never taken from arguments)."""
    return {k: typer.prompt(label, err=True) for k, label in _PATIENT_PROMPTS.items()}


def _open_tasks_text(state: PathwayState | StepOutcome) -> list[str]:
    lines = sorted(
        (t.due_on, t.id, f"  open task: {t.title} ({t.role}, due {t.due_on})")
        for t in state.open_tasks
    )
    return [line for *_, line in lines]


@app.command()
@handle_errors
def refer(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Referral as JSON (models.referral.Referral); - = stdin."
        ),
    ] = None,
    patient_file: Annotated[
        Path | None,
        typer.Option(
            "--patient",
            help="The patient's identity as JSON (nhs_number, family_name, given_name, "
            "date_of_birth); - = stdin. Never given as options: arguments show in `ps`. "
            "Prompted for when neither file has it.",
        ),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Your login (prompts for the password); or set SIRT_TOKEN."),
    ] = None,
    received_on: Annotated[
        str | None, typer.Option(help="Date the referral arrived, YYYY-MM-DD.")
    ] = None,
    primary_site: Annotated[
        str | None, typer.Option(help=f"One of: {', '.join(PrimarySite)}.")
    ] = None,
    grade: Annotated[int | None, typer.Option(help="WHO grade, 1-3.")] = None,
    ki67: Annotated[float | None, typer.Option(help="Ki-67 index, percent.")] = None,
    carcinoid_syndrome: Annotated[
        bool | None,
        typer.Option(
            "--carcinoid-syndrome/--no-carcinoid-syndrome", help="Carcinoid syndrome present."
        ),
    ] = None,
    flushes_per_day: Annotated[float | None, typer.Option(help="Flushes per day.")] = None,
    stools_per_day: Annotated[float | None, typer.Option(help="Stools per day.")] = None,
    prior_therapy: Annotated[
        list[str] | None,
        typer.Option(
            help="KIND[:LAST_GIVEN_ON[:CYCLES]], repeatable; KIND is one of: "
            f"{', '.join(PriorTherapyKind)}."
        ),
    ] = None,
    cga: Annotated[float | None, typer.Option(help="Baseline chromogranin A, ug/L.")] = None,
    hiaa: Annotated[
        float | None, typer.Option("--5hiaa", help="Baseline urinary 5-HIAA, umol/24 h.")
    ] = None,
    referrer: Annotated[str | None, typer.Option(help="Referring clinician.")] = None,
    trust: Annotated[str | None, typer.Option(help="Referring trust.")] = None,
    reference: Annotated[
        str | None, typer.Option(help="The referrer's own reference for this referral.")
    ] = None,
    second_pathway_reason: Annotated[
        str | None,
        typer.Option(
            help="Why this patient needs a second open pathway (for example a new primary); "
            "without it a referral of an NHS number with an open pathway is refused."
        ),
    ] = None,
    referral_key: Annotated[
        str | None,
        typer.Option(
            help="Makes a retry safe: referring again with the same key prints the pathway "
            "the first attempt started. Default: the referrer's reference, else a new key "
            "(printed)."
        ),
    ] = None,
) -> None:
    """Refer a patient: start a pathway and print its pseudonymous id (only that).

    Give the referral as a JSON file, as options, or both (options override the file).
    """
    _checked_key(referral_key, "--referral-key")
    data = read_json_object(file) if file else {}
    if patient_file is not None:
        patient = data.get("patient")
        data["patient"] = {
            **(patient if isinstance(patient, dict) else {}),
            **read_json_object(patient_file),
        }
    fields: dict[str, object] = {
        "received_on": received_on,
        "primary_site": primary_site,
        "grade": grade,
        "ki67_pct": ki67,
        "carcinoid_syndrome": carcinoid_syndrome,
        "flushes_per_day": flushes_per_day,
        "stools_per_day": stools_per_day,
        "baseline_cga_ug_l": cga,
        "baseline_5hiaa_umol_24h": hiaa,
        "referrer": referrer,
        "referring_trust": trust,
        "referrer_reference": reference,
        "second_pathway_reason": second_pathway_reason,
    }
    for name, given in fields.items():
        _set(data, name, given)
    if prior_therapy:
        data["prior_therapies"] = [_parse_prior_therapy(p) for p in prior_therapy]
    if not data:
        raise CliError("give the referral with --file or options (see `sirt refer --help`)", 2)
    if "patient" not in data:
        data["patient"] = _prompt_patient()
    referral = Referral.model_validate(data)
    for field, problem in identity_problems(referral.patient, clock.today()):
        raise CliError(f"{label_path(field.split('.'))} ({field}): {problem}", EXIT_INVALID)
    s = settings()
    engine = read_engine(s)
    who = cli_principal(engine, as_user, os.environ.get(TOKEN_ENV), "pathway:refer")
    rkey = ReferralKey.of(CLI_SCOPE, referral, referral_key)
    if rkey is None:
        rkey = ReferralKey(scope=CLI_SCOPE, kind="key", key=new_idempotency_key())
        typer.echo(
            f"Referral key: {rkey.key} (if this command fails or you are unsure it ran, "
            f"run it again with --referral-key {rkey.key}: it will not refer twice)",
            err=True,
        )

    try:
        pathway_id, state = run_async(_start(s, engine, referral, rkey))
    except DuplicateReferral as exc:
        at = exc.pathway_id
        audit.record(engine, who, "pathway:refer", Outcome.CONFLICT, pathway_id=at, detail="cli")
        raise
    except CliError:
        audit.record(engine, who, "pathway:refer", Outcome.ERROR, detail="cli")
        raise
    audit.record(engine, who, "pathway:refer", Outcome.OK, pathway_id=pathway_id, detail="cli")
    # Only the pseudonymous id on stdout (for scripts); the hint goes to stderr.
    typer.echo(pathway_id)
    if state is None:
        typer.echo(f"Pathway started; no worker has picked it up yet: {NOT_RUNNING_HINT}", err=True)
        return
    lines = [f"Pathway started: stage {state.stage}.", *_open_tasks_text(state)]
    typer.echo("\n".join([*lines, f"See: sirt status {pathway_id}"]), err=True)


# --------------------------------------------------------------------------------- status


@app.command()
@handle_errors
def status(
    pathway_id: Annotated[str, typer.Argument(help="The pathway id `sirt refer` printed.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show one pathway from the read model: stage, next due, open tasks, visits, history."""
    s = settings()
    view = pathway_status(read_engine(s), pathway_id)
    if view is None:
        raise CliError(
            f"unknown pathway {pathway_id!r}: not in the read model at "
            f"{safe_url(s.resolved_database_url)} (a pathway just referred appears within seconds)"
        )
    if as_json:
        typer.echo(to_json(view))
        return
    overdue = " (OVERDUE)" if view["overdue"] else ""
    lines = [
        f"Pathway     {view['id']}",
        f"Centre      {view['centre']}",
        f"Stage       {view['stage']} since {fmt(view['stage_entered_at'])}",
        f"Referred    {fmt(view['referred_at'])}",
        f"Next due    {fmt(view['next_due_on'])}{overdue}",
        f"Treatments  {view['treatment_number']} (last {fmt(view['treatment_on'])}), "
        f"cumulative lung dose {view['cumulative_lung_dose_gy']:g} Gy",
    ]
    if view["exit_reason"]:
        lines.append(f"Exit        {view['exit_reason']}")
    tasks = view["open_tasks"]
    lines += ["", f"Open tasks ({len(tasks)})"]
    if tasks:
        rows = [
            (t["role"], t["title"], t["due_on"], "OVERDUE" if t["overdue"] else "") for t in tasks
        ]
        lines.append(table(("ROLE", "TITLE", "DUE", ""), rows, indent="  "))
    visits = view["visits"]
    if visits:
        visit_rows: list[tuple[object, ...]] = [
            (v["code"], v["kind"], v["treatment_number"], v["due_on"], v["state"], v["recorded_on"])
            for v in visits
        ]
        lines += ["", f"Visits ({len(visits)})"]
        lines.append(
            table(("CODE", "KIND", "TX", "DUE", "STATE", "RECORDED"), visit_rows, indent="  ")
        )
    history = [(h["entered_at"], h["stage"], h["reason"]) for h in view["history"]]
    lines += ["", "History", table(("AT", "STAGE", "REASON"), history, indent="  ")]
    typer.echo("\n".join(lines))


# ----------------------------------------------------------------------------------- list


def parse_stage(value: str | None) -> Stage | None:
    """A stage name (any case), or a usage error listing the stages."""
    if value is None:
        return None
    try:
        return Stage(value.strip().upper())
    except ValueError:
        raise CliError(f"unknown stage {value!r}; stages: {STAGE_NAMES}", EXIT_INVALID) from None


@app.command("list")
@handle_errors
def list_pathways(
    stage: Annotated[str | None, typer.Option(help=f"Only this stage: {STAGE_NAMES}.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue pathways.")] = False,
    centre: Annotated[str | None, typer.Option(help="Only this centre code.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List pathways from the read model: overdue first, then by next due date."""
    wanted = parse_stage(stage)
    s = settings()
    found = pathway_list(read_engine(s), stage=wanted, overdue_only=overdue, centre=centre)
    if as_json:
        typer.echo(to_json(found))
        return
    if not found:
        typer.echo("No pathways match.")
        return
    rows = [
        (
            p["id"],
            p["stage"],
            p["stage_entered_at"],
            p["next_due_on"],
            "OVERDUE" if p["overdue"] else "",
            p["centre"],
        )
        for p in found
    ]
    typer.echo(table(("PATHWAY", "STAGE", "SINCE", "NEXT DUE", "", "CENTRE"), rows))


# --------------------------------------------------------------------------------- submit


async def _submit(
    s: Settings, pathway_id: str, step: str, payload: Any, timeout: float, key: str
) -> StepOutcome:
    client = await temporal_client(s)
    try:
        # Temporal answers a repeated Update id with the first result: a retry applies once.
        return await submit_step(
            client,
            pathway_id,
            step,
            payload,
            idempotency_key=key,
            rpc_timeout=timedelta(seconds=timeout),
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise CliError(
            "the pathway did not answer in time, so the step may have been applied: check "
            f"with `sirt status {pathway_id}`. Running the same command again with "
            f"--idempotency-key {key} is safe: the step is applied at most once."
        ) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"unknown pathway {pathway_id!r}: {exc.message}") from None
        raise


@app.command(
    help="Send one human step to a pathway, validated first; prints the new stage.\n\n"
    f"STEP is one of: {STEP_NAMES}. `sirt steps STEP` shows a step's payload schema.\n\n"
    "Exit codes: 0 done, 1 refused by the pathway (or Temporal unreachable), 2 invalid input."
)
@handle_errors
def submit(
    step: Annotated[str, typer.Argument(help=f"One of: {STEP_NAMES}.")],
    pathway_id: Annotated[str, typer.Argument(help="The pathway id `sirt refer` printed.")],
    file: Annotated[
        Path, typer.Option("--file", "-f", help="The step's payload as JSON; - = stdin.")
    ],
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the worker to accept or refuse.")
    ] = 30.0,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            help="Makes a retry safe: the same step sent again with the same key is applied "
            "once and prints the first result. Default: a new key (printed)."
        ),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Your login (prompts for the password); or set SIRT_TOKEN."),
    ] = None,
) -> None:
    if step not in STEPS:
        raise CliError(f"unknown step {step!r}; steps: {STEP_NAMES}", EXIT_INVALID)
    key = _checked_key(idempotency_key, "--idempotency-key")
    _, payload = parse_step(step, read_json_object(file))
    s = settings()
    engine = read_engine(s)
    action = step_action(step)
    who = cli_principal(engine, as_user, os.environ.get(TOKEN_ENV), action)
    audited = pathway_id if is_pathway_id(pathway_id) else None
    hits = free_text_identifiers(engine, pathway_id, payload)
    if hits:
        audit.record(engine, who, action, Outcome.INVALID, pathway_id=audited, detail="cli")
        lines = [".".join(str(p) for p in where) + f": {msg}" for where, msg in hits]
        raise CliError("\n".join(lines), EXIT_INVALID)
    if key is None:
        key = new_idempotency_key()
        typer.echo(f"Idempotency key: {key} (to retry safely: --idempotency-key {key})", err=True)
    try:
        state = run_async(_submit(s, pathway_id, step, payload, timeout, key))
    except CliError as exc:
        outcome = Outcome.REFUSED if exc.code == EXIT_INVALID else Outcome.ERROR
        audit.record(engine, who, action, outcome, pathway_id=audited, detail="cli")
        raise
    audit.record(engine, who, action, Outcome.OK, pathway_id=audited, detail="cli")
    typer.echo("\n".join([f"{pathway_id}: stage {state.stage}", *_open_tasks_text(state)]))


@app.command()
@handle_errors
def steps(
    step: Annotated[
        str | None, typer.Argument(help="Show this step's payload JSON schema.")
    ] = None,
) -> None:
    """List the steps `sirt submit` accepts, or show one step's payload schema."""
    if step is None:
        rows = []
        for name, spec in STEPS.items():
            rows.append((name, ", ".join(sorted(spec.roles)), spec.title))
        typer.echo(table(("STEP", "WHO", "WHAT"), rows))
        return
    if step not in STEPS:
        raise CliError(f"unknown step {step!r}; steps: {STEP_NAMES}", EXIT_INVALID)
    typer.echo(to_json(STEPS[step].payload.model_json_schema()))


# Planning aid, no Temporal or read model involved: defined in its own module.
app.command("dosimetry")(handle_errors(dosimetry))
app.add_typer(notify_app, name="notify")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")
app.add_typer(hl7_app, name="hl7")
app.add_typer(events_app, name="events")
# The deployment's processes, one per container.
for command in (
    services.migrate,
    services.worker,
    services.scheduler,
    services.web,
    services.ready,
):
    app.command()(handle_errors(command))

__all__ = ["app", "validation_lines"]


if __name__ == "__main__":
    app()
