"""A synthetic SIRT cohort with realistic distributions, driven through real pathways.

``generate_cohort`` is pure and deterministic for a seed: per patient a referral and a script
of steps (``core.pathways.STEPS`` names with their payloads) on given days. ``seed_cohort``
plays the scripts against running pathways through ``start_pathway`` / ``submit_step`` on
a clock that can be advanced (the time-skipping test server), one day at a time, so every
Update passes the same validators as a coordinator's would. The distributions are the
published ones in DOMAIN.md ("Published outcomes"); they shape demos, never assertions.
"""

import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client

from clinical.enums import Device, DosimetryMethod
from clinical.plan_check import PlanDoses, PlanFigures, WorkupFigures, assess_plan
from core.pathways import start_pathway, submit_step
from models.config import PathwayConfig
from models.referral import Referral
from workflows.follow_up import visit_due_on

DAYS_PER_MONTH = 365.25 / 12


class CohortConfig(BaseModel):
    """Distributions of the synthetic cohort (defaults: DOMAIN.md 'Published outcomes')."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary_sites: Mapping[str, float] = Field(
        default_factory=lambda: {
            "midgut": 0.50,
            "pancreas": 0.25,
            "foregut": 0.08,
            "hindgut": 0.05,
            "unknown": 0.12,
        }
    )
    ecog: Mapping[int, float] = Field(default_factory=lambda: {0: 0.45, 1: 0.45, 2: 0.10})
    devices: Mapping[str, float] = Field(
        default_factory=lambda: {"resin_y90": 0.75, "glass_y90": 0.20, "ho166": 0.05}
    )
    # (low, median, high) GBq: resin 1.0-2.7 median ~1.65; glass median ~3.9.
    activity_gbq: Mapping[str, tuple[float, float, float]] = Field(
        default_factory=lambda: {
            "resin_y90": (1.0, 1.65, 2.7),
            "glass_y90": (2.0, 3.9, 6.0),
            "ho166": (3.0, 6.0, 9.0),
        }
    )
    share_not_suitable: float = 0.08
    share_alternative: float = 0.04
    share_bilobar: float = 0.65
    share_tumour_burden_over_25: float = 0.45
    share_extrahepatic_limited: float = 0.25
    share_carcinoid_syndrome: float = 0.6
    median_os_months: float = 33.0
    median_hepatic_pfs_months: float = 18.0
    share_prs: float = 0.42
    share_reild: float = 0.03
    share_grade3_ae: float = 0.07
    # RECIST at 3 months for patients without earlier hepatic progression. About 11% progress
    # before 3 months (the PFS draw), so DCR ends near 86% and ORR near 31% as published.
    response_3m: Mapping[str, float] = Field(
        default_factory=lambda: {"CR": 0.03, "PR": 0.32, "SD": 0.61, "PD": 0.04}
    )
    share_symptom_response: float = 0.6
    referral_spread_days: int = Field(default=14, ge=0)
    follow_up_days: int = Field(
        default=3 * 365, ge=0, description="How long after treatment scripts run."
    )
    last_day: int | None = Field(
        default=None,
        ge=0,
        description="No step after this day of the cohort (counted from its start): pathways "
        "under way then stay where they are, as a live service's do. None: every script runs "
        "to its end.",
    )


DEFAULT_COHORT = CohortConfig()


class ScriptStep(BaseModel):
    """One step on a day counted from the cohort's start."""

    day: int
    step: str
    payload: dict[str, Any]


class PatientScript(BaseModel):
    """A synthetic patient: the referral (start day) and the steps that follow."""

    index: int
    start_day: int
    referral: dict[str, Any]
    steps: list[ScriptStep]


def _pick(rng: random.Random, weights: Mapping[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _triangular(rng: random.Random, low: float, mode: float, high: float) -> float:
    return round(rng.triangular(low, high, mode), 2)


def _exp_days(rng: random.Random, median_months: float) -> int:
    return int(rng.expovariate(math.log(2) / (median_months * DAYS_PER_MONTH)))


# A valid NHS number from a number: 9 digits then the modulus-11 check digit.
def synthetic_nhs_number(n: int) -> str:
    """A checksum-valid NHS number in the 999 range (never issued to real people)."""
    base = 999_000_000 + n
    while True:
        digits = [int(c) for c in f"{base:09d}"]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return f"{base:09d}{check}"
        base += 1


_GIVEN = ("Ada", "Bryn", "Cerys", "Dafydd", "Efa", "Ffion", "Gareth", "Heledd", "Idris", "Jac")
_FAMILY = ("Synthwood", "Mockford", "Fakeley", "Samplewright", "Demoson", "Testerby")


def _qlq(rng: random.Random, wellness: float) -> dict[str, int]:
    """QLQ-C30 answers; ``wellness`` 0-1 moves them towards better function."""
    answers: dict[str, int] = {}
    for item in range(1, 29):
        answers[str(item)] = max(1, min(4, round(1 + 3 * (1 - wellness) + rng.uniform(-0.8, 0.8))))
    for item in (29, 30):
        answers[str(item)] = max(1, min(7, round(1 + 6 * wellness + rng.uniform(-1, 1))))
    return answers


def _visits(config: PathwayConfig) -> list[tuple[str, int]]:
    """(code, days after treatment) of the default follow-up schedule."""
    anchor = date(2001, 1, 1)
    return [(s.code, (visit_due_on(anchor, s) - anchor).days) for s in config.follow_up]


def _patient(
    rng: random.Random, index: int, start: date, cfg: CohortConfig, pathway: PathwayConfig
) -> PatientScript:
    day0 = rng.randint(0, cfg.referral_spread_days)
    syndrome = rng.random() < cfg.share_carcinoid_syndrome
    flushes = float(rng.randint(2, 10)) if syndrome else 0.0
    stools = float(rng.randint(3, 8)) if syndrome else 1.0
    prior: list[dict[str, Any]] = [{"kind": "ssa"}] if rng.random() < 0.8 else []
    if rng.random() < 0.3:
        prior.append({"kind": "prrt", "cycles": 4})
    if rng.random() < 0.25:
        prior.append({"kind": "resection"})
    referral = {
        "patient": {
            "nhs_number": synthetic_nhs_number(index),
            "family_name": f"{_FAMILY[index % len(_FAMILY)]}{index}",
            "given_name": _GIVEN[rng.randrange(len(_GIVEN))],
            "date_of_birth": date(1940 + rng.randrange(40), 1 + rng.randrange(12), 1).isoformat(),
        },
        "primary_site": _pick(rng, cfg.primary_sites),
        "grade": rng.choices([1, 2, 3], weights=[0.35, 0.55, 0.10])[0],
        "ki67_pct": round(rng.uniform(1, 25), 1),
        "carcinoid_syndrome": syndrome,
        "flushes_per_day": flushes,
        "stools_per_day": stools,
        "prior_therapies": prior,
        "baseline_cga_ug_l": round(rng.uniform(80, 1500)),
        "baseline_5hiaa_umol_24h": round(rng.uniform(20, 400)),
        "referrer": "Dr Synthetic Referrer",
        "referring_trust": "Synthetic NHS Foundation Trust",
    }
    steps: list[ScriptStep] = []

    def at(day: int, step: str, payload: dict[str, Any]) -> None:
        steps.append(ScriptStep(day=day, step=step, payload=payload))

    def iso(day: int) -> str:
        return (start + timedelta(days=day)).isoformat()

    mdt_day = day0 + rng.randint(5, 20)
    decision = "proceed"
    r = rng.random()
    if r < cfg.share_not_suitable:
        decision = "not_suitable"
    elif r < cfg.share_not_suitable + cfg.share_alternative:
        decision = "alternative"
    burden = rng.uniform(26, 60) if rng.random() < cfg.share_tumour_burden_over_25 else None
    burden = round(burden if burden is not None else rng.uniform(5, 25), 1)
    mdt: dict[str, Any] = {
        "meeting_date": iso(mdt_day),
        "net_experienced_mdt": True,
        "attendees": ["NET oncologist", "interventional radiologist", "HPB surgeon"],
        "ecog": _pick(rng, cfg.ecog),
        "child_pugh_score": rng.choice([5, 5, 6]),
        "extrahepatic_disease": "limited"
        if rng.random() < cfg.share_extrahepatic_limited
        else "none",
        "tumour_burden_pct": burden,
        "labs": {
            "bilirubin_umol_l": rng.randint(5, 18),
            "albumin_g_l": rng.randint(36, 46),
            "alt_u_l": rng.randint(12, 40),
            "ast_u_l": rng.randint(12, 40),
            "alp_u_l": rng.randint(60, 140),
            "platelets_10e9_l": rng.randint(150, 350),
            "inr": 1.0,
        },
        "intent": "disease_control",
        "decision": decision,
        "consent_obtained": decision == "proceed",
    }
    if decision == "not_suitable":
        mdt["reason"] = "diffuse extrahepatic disease on review"
    elif decision == "alternative":
        mdt["alternative_treatment"] = "prrt"
    at(mdt_day, "mdt-decision", mdt)
    if decision != "proceed":
        return PatientScript(index=index, start_day=day0, referral=referral, steps=steps)

    workup_day = mdt_day + rng.randint(7, 21)
    at(mdt_day, "schedule-workup", {"scheduled_on": iso(workup_day)})
    bilobar = rng.random() < cfg.share_bilobar
    positions = ["right hepatic", "left hepatic"] if bilobar else ["right hepatic"]
    lsf = round(rng.uniform(0.02, 0.14), 3)
    at(
        workup_day,
        "workup",
        {
            "performed_on": iso(workup_day),
            "vessels_studied": ["coeliac", "SMA", "right hepatic", "left hepatic"],
            "injection_positions": positions,
            "scout_agent": "tc99m_maa",
            "scout_activity_mbq": 150,
            "lung_shunt_fraction": lsf,
            "lsf_method": "spect_ct",
            "whole_liver_volume_ml": 1700,
            "tumour_volume_ml": round(17 * burden),
            "perfused_volume_ml": 1700 if bilobar else 1100,
        },
    )
    device = _pick(rng, cfg.devices)
    low, mode, high = cfg.activity_gbq[device]
    activity = _triangular(rng, low, mode, high)
    tnr = round(rng.uniform(2, 5), 1)
    rng.uniform(100, 250)  # was a typed tumour dose; kept so later draws stay the same
    normal_share = rng.uniform(0.5, 0.95)
    normal_limit = {"resin_y90": 38.0, "glass_y90": 70.0, "ho166": 55.0}[device]
    # The pathway recomputes the doses from the work-up: plan an activity within the limits,
    # and type the doses the physicist's software would give.
    workup = WorkupFigures(
        lung_shunt_fraction=lsf,
        whole_liver_volume_ml=1700,
        tumour_volume_ml=round(17 * burden),
        perfused_volume_ml=1700 if bilobar else 1100,
    )
    target = normal_share * normal_limit
    doses = _doses(workup, device, activity, tnr)
    if doses.normal_liver_gy and doses.normal_liver_gy > target:
        # Less activity, but not below the device's usual range: then more tumour uptake.
        activity = max(low, activity * target / doses.normal_liver_gy)
        while (_doses(workup, device, activity, tnr).normal_liver_gy or 0.0) > target:
            tnr = round(tnr + 0.5, 1)
    lung = _doses(workup, device, activity, tnr).lung_gy
    if lung > 25.0:
        activity *= 25.0 / lung
    activity = round(activity, 2)
    split = [round(activity * 0.65, 2), round(activity * 0.35, 2)] if bilobar else [activity]
    doses = _doses(workup, device, sum(split), tnr)
    at(
        workup_day,
        "dosimetry-plan",
        {
            "device": device,
            "method": "partition",
            "tumour_to_normal_ratio": tnr,
            "positions": [
                {"position": p, "activity_gbq": a} for p, a in zip(positions, split, strict=True)
            ],
            "predicted_tumour_dose_gy": round(doses.tumour_gy or 0.0, 1),
            "predicted_normal_liver_dose_gy": round(doses.normal_liver_gy or 0.0, 1),
            "predicted_lung_dose_gy": round(doses.lung_gy, 2),
            "physicist_signoff": {"physicist": "Synthetic Physicist", "signed_on": iso(workup_day)},
        },
    )
    treat_day = workup_day + rng.randint(7, 21)
    at(workup_day, "schedule-treatment", {"scheduled_on": iso(treat_day)})
    at(
        treat_day,
        "treatment",
        {
            "performed_on": iso(treat_day),
            "positions": [
                {"position": p, "administered_activity_gbq": a, "residual_pct": rng.randint(0, 5)}
                for p, a in zip(positions, split, strict=True)
            ],
            "extent": "bilobar" if bilobar else "unilobar",
            "post_treatment_imaging": "y90_pet" if device != "ho166" else "ho166_spect",
            "discharged_on": iso(treat_day + 1),
        },
    )

    death = treat_day + max(20, _exp_days(rng, cfg.median_os_months))
    progression = treat_day + max(60, _exp_days(rng, cfg.median_hepatic_pfs_months))
    horizon = treat_day + cfg.follow_up_days
    prs = rng.random() < cfg.share_prs
    reild = rng.random() < cfg.share_reild
    grade3 = rng.random() < cfg.share_grade3_ae
    response = _pick(rng, cfg.response_3m)
    symptom_response = rng.random() < cfg.share_symptom_response
    wellness = rng.uniform(0.4, 0.8)
    progressed = False
    for code, offset in _visits(pathway):
        day = treat_day + offset
        if day >= death or day > horizon:
            break
        visit: dict[str, Any] = {"visit_code": code, "visit_date": iso(day)}
        if code == "2w" and prs:
            visit["prs_symptoms"] = {"fatigue": rng.randint(1, 2), "nausea": rng.randint(0, 2)}
        elif code == "2w":
            visit["prs_symptoms"] = {}
        if code == "6w":
            labs = {
                "bilirubin_umol_l": 45 if reild else rng.randint(6, 20),
                "albumin_g_l": 30 if reild else rng.randint(35, 45),
                "alt_u_l": rng.randint(15, 60),
            }
            visit |= {"labs": labs, "ascites": "new_or_worse" if reild else "none"}
            if grade3:
                visit["adverse_events"] = [
                    {"term": "Abdominal pain", "ctcae_grade": 3, "onset_day": offset - 3}
                ]
        if offset >= 80:  # imaging visits from 3 months on
            if progression <= day and not progressed:
                visit |= {
                    "recist_response": "PD",
                    "hepatic_progression_on": iso(max(progression, treat_day + 1)),
                }
                progressed = True
            elif code == "3m":
                visit["recist_response"] = "PD" if progressed else response
            elif not progressed:
                visit["recist_response"] = "SD" if response == "PD" else response
            if code in ("6w", "3m", "6m"):
                visit["qlq_c30"] = _qlq(rng, wellness)
            if code == "3m" and syndrome:
                factor = 0.4 if symptom_response else 0.9
                visit |= {"flushes_per_day": round(flushes * factor, 1)}
                visit |= {"stools_per_day": round(stools * factor, 1)}
        elif code == "6w":
            visit["qlq_c30"] = _qlq(rng, wellness - 0.1)
        at(day, "follow-up-visit", visit)
        if code == "6w" and reild:
            at(
                day,
                "reild-review",
                {
                    "findings": {"laboratory_abnormality": True, "clinical_signs": True},
                    "note": "synthetic REILD, managed without treatment",
                },
            )
    if death <= horizon:
        at(death, "event", {"kind": "death", "occurred_on": iso(death), "cause_of_death": "NET"})
    return PatientScript(index=index, start_day=day0, referral=referral, steps=steps)


def generate_cohort(
    n: int,
    seed: int,
    start: date,
    config: CohortConfig = DEFAULT_COHORT,
    pathway: PathwayConfig | None = None,
) -> list[PatientScript]:
    """``n`` patient scripts, dates counted from ``start``; the same seed gives the same cohort."""
    rng = random.Random(seed)
    pathway = pathway or PathwayConfig()
    scripts = [_patient(rng, i, start, config, pathway) for i in range(n)]
    last = config.last_day
    if last is None:
        return scripts
    return [
        s.model_copy(update={"steps": [st for st in s.steps if st.day <= last]})
        for s in scripts
        if s.start_day <= last
    ]


Sleep = Callable[[timedelta], Awaitable[None]]


async def seed_cohort(
    client: Client,
    task_queue: str,
    n: int,
    seed: int,
    sleep: Sleep,
    today: date,
    *,
    centre: str = "DEMO",
    config: CohortConfig = DEFAULT_COHORT,
    pathway: PathwayConfig | None = None,
) -> list[str]:
    """Drive ``n`` synthetic patients through real pathways; returns their pathway ids.

    ``today`` is the clock's date now and ``sleep`` advances that clock (``env.sleep`` on the
    time-skipping server). Steps run day by day in script order, each on its own date, so the
    Update validators (no future dates, visit windows) see what a coordinator's would.
    """
    scripts = generate_cohort(n, seed, today, config, pathway)
    events: list[tuple[int, int, int, ScriptStep | None]] = []
    for s in scripts:
        events.append((s.start_day, -1, s.index, None))
        events.extend((step.day, order, s.index, step) for order, step in enumerate(s.steps))
    events.sort(key=lambda e: (e[0], e[2], e[1]))
    ids: dict[int, str] = {}
    current = 0
    for day, _, index, step in events:
        if day > current:
            await sleep(timedelta(days=day - current))
            current = day
        if step is None:
            referral = Referral.model_validate(scripts[index].referral)
            handle = await start_pathway(
                client, referral, task_queue=task_queue, centre=centre, config=pathway
            )
            ids[index] = handle.id
            continue
        await submit_step(client, ids[index], step.step, step.payload)
    return [ids[s.index] for s in scripts]


def cohort_days(scripts: Sequence[PatientScript]) -> int:
    """Days from the cohort's start to its last step."""
    return max([s.start_day for s in scripts] + [st.day for s in scripts for st in s.steps])


def _doses(workup: WorkupFigures, device: str, activity: float, tnr: float) -> PlanDoses:
    """The partition-model doses the pathway will compute for this synthetic plan."""
    plan = PlanFigures(
        device=Device(device),
        method=DosimetryMethod.PARTITION,
        activity_gbq=activity,
        tumour_to_normal_ratio=tnr,
    )
    doses = assess_plan(workup, plan).doses
    assert doses is not None  # the synthetic work-up always leaves normal liver perfused
    return doses
