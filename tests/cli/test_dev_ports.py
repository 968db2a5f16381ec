"""`sirt dev` refuses to start when a port it would listen on is taken, saying which and how
to choose another, before it starts anything."""

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import SIRT, sirt_env


@contextmanager
def listening(port: int) -> Iterator[None]:
    """Another program listening on ``port`` (an MLLP engine left running, say)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


@pytest.mark.parametrize(
    ("setting", "what"),
    [("SIRT_HL7_PORT", "HL7v2 (MLLP) listener"), ("SIRT_WEB_PORT", "web app")],
)
def test_sirt_dev_names_the_taken_port_and_its_setting_and_exits(
    tmp_path: Path, setting: str, what: str
) -> None:
    env = sirt_env(tmp_path)
    port = int(env[setting])
    with listening(port):
        done = subprocess.run(
            [str(SIRT), "dev"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"Error: Port {port} on 127.0.0.1 is already in use, so the {what} cannot listen "
        f"there; stop what uses it or choose another port with {setting}."
    )
    assert "Starting the Temporal dev server" not in done.stdout
    assert not (tmp_path / "data" / "temporal.pid").exists()
