"""`sirt web` as the deployment runs it: the real command, a real Temporal and PostgreSQL.

Also: every command docker-compose.yml and the Dockerfile run exists, and the image copies
every package the project installs.
"""

import json
import re
import signal
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from temporalio.testing import WorkflowEnvironment

from core.devserver import free_port, process_alive
from tests.processes import SIRT, children, poll_until, sirt_env, sirt_process

ROOT = Path(__file__).resolve().parents[2]


def run_sirt(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SIRT), *args],
        cwd=tmp,
        env=env or sirt_env(tmp),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_sirt_web_serves_then_stops_cleanly_on_sigterm(
    workers: int, tmp_path: Path, workflow_env: WorkflowEnvironment, postgres_url: str
) -> None:
    env = sirt_env(
        tmp_path,
        SIRT_TEMPORAL_ADDRESS=workflow_env.client.service_client.config.target_host,
        DATABASE_URL=postgres_url,
    )
    port = free_port()
    args = ["web", "--port", str(port), "--workers", str(workers)]
    with sirt_process(tmp_path, args, env) as web:
        base = f"http://127.0.0.1:{port}"
        assert web.wait_http(f"{base}/healthz", timeout=60) == 200
        assert web.wait_http(f"{base}/readyz", timeout=10) == 200  # Temporal and database
        assert web.wait_http(f"{base}/login", timeout=10) == 200
        servers = children(web.pid)
        assert len(servers) >= (workers if workers > 1 else 0), web.output()

        web.popen.send_signal(signal.SIGTERM)
        assert web.popen.wait(timeout=30) == 0, web.output()
        poll_until(lambda: not any(map(process_alive, servers)), "exit of the workers", 15)
        assert "Traceback" not in web.output()
        assert "ERROR" not in web.output()
    # The session secret was made once, before the workers started, so all of them share it.
    assert (tmp_path / "data" / "session.key").stat().st_mode & 0o777 == 0o600


def test_sirt_web_help_documents_its_options(tmp_path: Path) -> None:
    result = run_sirt(tmp_path, "web", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for option in ("--host", "--port", "--workers", "127.0.0.1", "8000"):
        assert option in text
    assert "SIRT_ENCRYPTION_KEY" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers"),
        (["--port", "http"], "--port"),
        (["--bogus"], "No such option"),
    ],
)
def test_sirt_web_refuses_a_bad_option(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_sirt(tmp_path, "web", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_sirt_web_without_the_payload_key_says_so(tmp_path: Path) -> None:
    env = sirt_env(tmp_path)
    del env["SIRT_ENCRYPTION_KEY"]
    result = run_sirt(tmp_path, "web", "--port", str(free_port()), env=env)
    assert result.returncode == 1
    assert "no payload key" in result.stderr
    assert "Traceback" not in result.stderr


def compose_commands() -> list[list[str]]:
    """Every command and health check of docker-compose.yml run in the app's image, and the
    Dockerfile's CMD."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    found = []
    for service in services.values():
        if service.get("image") != "sirt-pathway:latest":
            continue
        found.append(service["command"])
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "sirt"]:
            found.append(test[1:])
    dockerfile = (ROOT / "Dockerfile").read_text()
    found += [json.loads(m) for m in re.findall(r"^CMD\s+(\[.*\])\s*$", dockerfile, re.M)]
    return found


def test_every_command_the_deployment_runs_exists(tmp_path: Path) -> None:
    commands = compose_commands()
    assert ["sirt", "web", "--host", "0.0.0.0", "--port", "8000"] in commands
    assert {c[1] for c in commands if len(c) > 1} >= {
        "migrate",
        "worker",
        "web",
        "scheduler",
        "ready",
    }
    for command in commands:
        assert command[0] == "sirt", command
        # The subcommand with the options given, asked for help: exits 0 only if all exist.
        words = [w for w in command[1:] if w != "--help"]
        result = run_sirt(tmp_path, *words, "--help")
        assert result.returncode == 0, (command, result.stderr)


def test_the_image_copies_every_package_the_project_installs() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = {p.split(".")[0] for p in setup["packages"]} | {f"{m}.py" for m in setup["py-modules"]}
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = {w for line in re.findall(r"^COPY\s+(.+)$", dockerfile, re.M) for w in line.split()}
    assert wanted <= copied, f"the Dockerfile does not copy {sorted(wanted - copied)}"


def test_sirt_ready_says_whether_the_read_model_and_temporal_answer(
    tmp_path: Path, workflow_env: WorkflowEnvironment, postgres_url: str
) -> None:
    """The worker's and the scheduler's container health check."""
    env = sirt_env(
        tmp_path,
        SIRT_TEMPORAL_ADDRESS=workflow_env.client.service_client.config.target_host,
        DATABASE_URL=postgres_url,
    )
    ok = run_sirt(tmp_path, "ready", env=env)
    assert (ok.returncode, ok.stdout.strip()) == (0, "ready: the read model and Temporal answer")

    nobody = f"127.0.0.1:{free_port()}"
    down = run_sirt(
        tmp_path, "ready", "--timeout", "2", env={**env, "SIRT_TEMPORAL_ADDRESS": nobody}
    )
    assert down.returncode == 1
    assert f"not ready: Temporal at {nobody} does not answer" in down.stderr
    assert "Traceback" not in down.stderr

    no_db = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}")
    down = run_sirt(tmp_path, "ready", env={**env, "DATABASE_URL": no_db})
    assert down.returncode == 1
    assert "not ready: the read model does not answer" in down.stderr
    assert "Traceback" not in down.stderr


def test_sirt_worker_that_cannot_reach_temporal_exits_for_its_supervisor(tmp_path: Path) -> None:
    """A worker whose start failed exits non-zero (compose restarts it), never idles on."""
    env = sirt_env(tmp_path)  # nothing listens on its Temporal address
    result = subprocess.run(
        [str(SIRT), "worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Error:" in result.stderr
    assert "Traceback" not in result.stderr
