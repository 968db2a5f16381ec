"""`sirt dosimetry`: preview activity and doses for a plan before submitting it."""

import json
from typing import Annotated

import typer
from pydantic import ValidationError

from cli.errors import validation_lines
from clinical.config import DosimetryLimits
from clinical.enums import Device, DosimetryMethod
from clinical.errors import ClinicalRuleError
from clinical.plan_preview import MethodPreview, PreviewInputs, preview, volume_to_mass_kg
from models.labels import readable

_DENSITY = DosimetryLimits().tissue_density_g_per_ml
_KG_OR_ML = (
    f"Give masses in kg, or volumes in mL (converted with the tissue density, {_DENSITY} g/mL)."
)


def dosimetry(
    device: Annotated[Device, typer.Option(help="Microsphere device.")],
    lsf: Annotated[float, typer.Option(help="Lung shunt fraction, 0-1 (e.g. 0.08 for 8%).")],
    activity: Annotated[
        float | None, typer.Option("--activity-gbq", help="Planned activity in GBq.")
    ] = None,
    target_dose: Annotated[
        float | None,
        typer.Option(
            "--target-dose-gy", help="Target perfused dose (MIRD) or tumour dose (partition)."
        ),
    ] = None,
    perfused_mass: Annotated[float | None, typer.Option("--perfused-mass-kg")] = None,
    perfused_volume: Annotated[float | None, typer.Option("--perfused-volume-ml")] = None,
    liver_mass: Annotated[float | None, typer.Option("--liver-mass-kg")] = None,
    liver_volume: Annotated[float | None, typer.Option("--liver-volume-ml")] = None,
    tumour_mass: Annotated[float | None, typer.Option("--tumour-mass-kg")] = None,
    tumour_volume: Annotated[float | None, typer.Option("--tumour-volume-ml")] = None,
    tnr: Annotated[
        float | None, typer.Option("--tnr", help="Tumour-to-normal uptake ratio (partition).")
    ] = None,
    height: Annotated[float | None, typer.Option("--height-cm", help="For BSA.")] = None,
    weight: Annotated[float | None, typer.Option("--weight-kg", help="For BSA.")] = None,
    lung_mass: Annotated[float | None, typer.Option("--lung-mass-kg", help="Default 1 kg.")] = None,
    prior_lung_dose: Annotated[
        list[float] | None,
        typer.Option("--prior-lung-dose-gy", help="Lung dose of an earlier treatment (repeat)."),
    ] = None,
    pretreated: Annotated[
        bool, typer.Option(help="Liver pretreated (e.g. chemotherapy): stricter limit.")
    ] = False,
    method: Annotated[
        DosimetryMethod | None,
        typer.Option(help="Preview only the plan's method, checked as the Update checks it."),
    ] = None,
    typed_lung: Annotated[
        float | None,
        typer.Option("--predicted-lung-dose-gy", help="The lung dose typed on the plan."),
    ] = None,
    typed_perfused: Annotated[
        float | None,
        typer.Option("--predicted-perfused-dose-gy", help="The perfused dose typed on the plan."),
    ] = None,
    typed_tumour: Annotated[
        float | None,
        typer.Option("--predicted-tumour-dose-gy", help="The tumour dose typed on the plan."),
    ] = None,
    typed_normal: Annotated[
        float | None,
        typer.Option(
            "--predicted-normal-liver-dose-gy", help="The normal-liver dose typed on the plan."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Preview activity and predicted doses by each method, with the pathway's dose limits.

    Masses in kg or volumes in mL; activity, or a target dose, drives the plan. Exits 1 when
    a previewed plan would be refused, with the dosimetry Update's own message.
    """
    try:
        inputs = PreviewInputs(
            device=device,
            lung_shunt_fraction=lsf,
            perfused_mass_kg=perfused_mass or volume_to_mass_kg(perfused_volume),
            liver_mass_kg=liver_mass or volume_to_mass_kg(liver_volume),
            tumour_mass_kg=tumour_mass or volume_to_mass_kg(tumour_volume),
            tumour_to_normal_ratio=tnr,
            activity_gbq=activity,
            target_dose_gy=target_dose,
            height_cm=height,
            weight_kg=weight,
            lung_mass_kg=lung_mass,
            prior_lung_doses_gy=tuple(prior_lung_dose or ()),
            pretreated_liver=pretreated,
            method=method,
            predicted_lung_dose_gy=typed_lung,
            predicted_perfused_dose_gy=typed_perfused,
            predicted_tumour_dose_gy=typed_tumour,
            predicted_normal_liver_dose_gy=typed_normal,
        )
        results = preview(inputs)
    except ValidationError as exc:
        for line in validation_lines(exc):
            typer.echo(line, err=True)
        raise typer.Exit(2) from None
    except ClinicalRuleError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    if not results:
        typer.echo(
            "nothing to preview: give --activity-gbq or --target-dose-gy (or height and weight "
            f"for BSA, or a Ho-166 device for the standard activity). {_KG_OR_ML}",
            err=True,
        )
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        for r in results:
            typer.echo(_describe(r))
    refused = [r for r in results if r.refusal]
    if refused:
        for r in refused:
            typer.echo(f"{r.method}: refused: {readable(r.refusal or '')}", err=True)
        raise typer.Exit(1)


def _describe(r: MethodPreview) -> str:
    lines = [f"{r.method}: activity {r.activity_gbq:.2f} GBq"]
    rows = (
        ("perfused-volume dose", r.perfused_dose_gy),
        ("tumour dose", r.tumour_dose_gy),
        ("normal-liver dose", r.normal_liver_dose_gy),
        ("lung dose", r.lung_dose_gy),
        ("cumulative lung dose", r.cumulative_lung_dose_gy),
    )
    lines += [f"  {label:<22} {dose:8.2f} Gy" for label, dose in rows if dose is not None]
    if r.note:
        lines.append(f"  ({r.note})")
    if r.refusal:
        lines.append(f"  WOULD BE REFUSED: {r.refusal}")
    return "\n".join(lines)
