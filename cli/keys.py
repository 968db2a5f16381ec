"""`sirt keys`: the payload keys Temporal history is encrypted under, and their rotation."""

import typer

from cli.errors import CliError, handle_errors
from core.codec import KeyConfigError, KeyRing, load_keyring, read_key_file, write_key_file
from core.config import Settings

app = typer.Typer(
    help="Payload encryption keys (list the ids, rotate to a new key).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _ring(s: Settings) -> KeyRing:
    try:
        return load_keyring(s.encryption_key, s.encryption_retired_keys, s.resolved_key_file)
    except KeyConfigError as exc:
        raise CliError(str(exc)) from None


@app.command("list")
@handle_errors
def list_keys() -> None:
    """Print the key ids this configuration can decrypt, the current one first (never keys)."""
    s = Settings()
    ring = _ring(s)
    source = "SIRT_ENCRYPTION_KEY" if s.encryption_key else str(s.resolved_key_file)
    for key_id in ring.ids():
        typer.echo(f"{key_id}\t{'current' if key_id == ring.current else 'retired'}\t{source}")


@app.command("rotate")
@handle_errors
def rotate() -> None:
    """Make a new current key; the old ones stay as retired keys, so history still decrypts.

    With the key file (`sirt dev`, one machine) the file is rewritten in place: restart
    `sirt dev` (or the worker, then the web app) to use it. With SIRT_ENCRYPTION_KEY the new
    settings are printed: give every worker the new key as a retired key first, then make it
    current everywhere (a worker must be able to read a payload before a client writes one).
    """
    s = Settings()
    ring = _ring(s)
    new = ring.rotated()
    if s.encryption_key:
        current, *retired = new.entries()
        typer.echo(f"SIRT_ENCRYPTION_KEY={current}")
        typer.echo(f"SIRT_ENCRYPTION_RETIRED_KEYS={','.join(retired)}")
        typer.echo(
            f"new key {new.current}: stage it in SIRT_ENCRYPTION_RETIRED_KEYS on every worker, "
            "then set both lines above everywhere and restart",
            err=True,
        )
        return
    # Re-read the file (not the env's retired keys) so only what the file held is rewritten.
    on_file = read_key_file(s.resolved_key_file)
    added = {new.current: new.keys[new.current]}
    rotated = KeyRing(current=new.current, keys={**on_file.keys, **added})
    write_key_file(s.resolved_key_file, rotated)
    typer.echo(
        f"new current key {new.current} in {s.resolved_key_file}; retired: "
        f"{', '.join(k for k in rotated.ids() if k != new.current)}. Restart `sirt dev` (or "
        "the worker, then the web app and scheduler) to write under it."
    )
