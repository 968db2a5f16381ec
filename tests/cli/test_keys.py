"""`sirt keys rotate`: a new current key, the old ones kept to read the history written under
them; `sirt keys list` names the ids (never the keys)."""

import base64
import stat
from pathlib import Path

from temporalio.api.common.v1 import Payload
from typer.testing import CliRunner

from cli.main import app
from core.codec import ENCODING, KEY_ID, EncryptionCodec, load_keyring
from tests.conftest import TEST_KEY

runner = CliRunner()
OLD_KEY = base64.b64encode(TEST_KEY).decode()


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_rotating_the_key_file_keeps_the_old_key_for_old_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key_file = data / "payload.key"
    key_file.write_text(OLD_KEY)  # a key file from before rotation: one bare key
    env = {"SIRT_DATA_DIR": str(data)}
    [written_before] = await EncryptionCodec(TEST_KEY).encode([_payload('"before"')])

    rotated = runner.invoke(app, ["keys", "rotate"], env=env)

    assert rotated.exit_code == 0, rotated.output
    ring = load_keyring(None, None, key_file)
    assert ring.current.startswith("k-")
    assert ring.ids() == [ring.current, "default"]
    assert f"new current key {ring.current}" in rotated.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().splitlines()[1] == f"default:{OLD_KEY}"
    codec = EncryptionCodec(ring)
    [written_after] = await codec.encode([_payload('"after"')])
    assert written_after.metadata[KEY_ID].decode() == ring.current
    assert written_after.metadata["encoding"] == ENCODING
    assert [p.data for p in await codec.decode([written_before, written_after])] == [
        b'"before"',
        b'"after"',
    ]
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert listed.stdout.splitlines() == [
        f"{ring.current}\tcurrent\t{key_file}",
        f"default\tretired\t{key_file}",
    ]
    assert OLD_KEY not in listed.stdout


async def test_rotating_keys_from_the_environment_prints_the_new_settings(tmp_path: Path) -> None:
    env = {"SIRT_DATA_DIR": str(tmp_path), "SIRT_ENCRYPTION_KEY": OLD_KEY}

    rotated = runner.invoke(app, ["keys", "rotate"], env=env)

    assert rotated.exit_code == 0, rotated.output
    lines = dict(line.split("=", 1) for line in rotated.stdout.splitlines())
    assert set(lines) == {"SIRT_ENCRYPTION_KEY", "SIRT_ENCRYPTION_RETIRED_KEYS"}
    assert lines["SIRT_ENCRYPTION_RETIRED_KEYS"] == f"default:{OLD_KEY}"
    ring = load_keyring(
        lines["SIRT_ENCRYPTION_KEY"], lines["SIRT_ENCRYPTION_RETIRED_KEYS"], tmp_path / "none"
    )
    assert ring.current != "default"
    assert ring.keys["default"] == TEST_KEY
    assert not (tmp_path / "payload.key").exists()


def test_a_malformed_key_setting_is_a_message_naming_it(tmp_path: Path) -> None:
    env = {"SIRT_DATA_DIR": str(tmp_path), "SIRT_ENCRYPTION_KEY": "k-1:not base64!"}
    result = runner.invoke(app, ["keys", "list"], env=env)
    assert result.exit_code == 1
    assert "payload key 'k-1' is not valid base64" in result.stderr
