"""docker-compose.yml keeps the deployment's promises: Debian's docker-compose accepts it, the
engine is not published, one scheduler, one key, and nothing starts before what it needs."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
# What a deployment's .env must provide; the file refuses to render without them.
REQUIRED_ENV = {"SIRT_ENCRYPTION_KEY": "a2V5", "SIRT_API_SESSION_SECRET": "s3cret"}
APP_IMAGE = "sirt-pathway:latest"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    """The services with YAML anchors and merges resolved, as compose reads them."""
    found: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def one_shot(service: dict[str, Any]) -> bool:
    return bool(service.get("restart") == "no")


def test_debian_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    # `make .venv/.installed` installs Debian's docker-compose, as it installs chromium.
    assert shutil.which("docker-compose"), "run `make .venv/.installed` (apt docker-compose)"
    env = {**os.environ, **REQUIRED_ENV}
    ok = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    # Without the key the file does not render: no deployment starts with a made-up key.
    env.pop("SIRT_ENCRYPTION_KEY")
    refused = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # no .env of the developer's beside it
    )
    assert refused.returncode != 0
    assert "set SIRT_ENCRYPTION_KEY in .env" in refused.stderr


def test_only_the_web_app_is_published(services: dict[str, dict[str, Any]]) -> None:
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"web": ["8000:8000"]}
    assert not any("7233" in str(s.get("ports", "")) for s in services.values())


def test_the_temporal_images_are_current_and_the_schema_is_set_up(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {name: s.get("image", "") for name, s in services.items()}
    assert not any("auto-setup" in image for image in images.values())
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    script = services["temporal-schema"]["command"][0]
    for database in ("temporal", "temporal_visibility"):
        assert database in script
    for step in ("create", "setup-schema", "update-schema"):
        assert f'temporal-sql-tool --db "$$name" {step}' in script
    assert services["temporal"]["depends_on"]["temporal-schema"] == {
        "condition": "service_completed_successfully"
    }


def test_the_ui_is_served_under_the_app_and_decodes_through_it(
    services: dict[str, dict[str, Any]],
) -> None:
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_UI_PUBLIC_PATH"] == "/temporal"
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    web = services["web"]["environment"]
    # The app's proxy forwards to the UI under the same public path the UI serves.
    assert web["SIRT_TEMPORAL_UI_BASE"] == "http://temporal-ui:8080/temporal"
    assert ui["TEMPORAL_CODEC_ENDPOINT"].startswith(web["SIRT_WEB_BASE_URL"])


def test_one_scheduler_and_two_workers(services: dict[str, dict[str, Any]]) -> None:
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert services["worker"]["deploy"]["replicas"] == 2


def test_every_process_that_talks_to_temporal_has_the_same_key(
    services: dict[str, dict[str, Any]],
) -> None:
    talkers = {
        name: s["environment"]
        for name, s in services.items()
        if "SIRT_TEMPORAL_ADDRESS" in s.get("environment", {})
    }
    assert set(talkers) >= {"worker", "web", "scheduler"}
    for setting in (
        "SIRT_ENCRYPTION_KEY",
        "SIRT_ENCRYPTION_RETIRED_KEYS",
        "SIRT_TEMPORAL_ADDRESS",
        "SIRT_TEMPORAL_NAMESPACE",
        "DATABASE_URL",
    ):
        values = {name: env.get(setting) for name, env in talkers.items()}
        assert len(set(values.values())) == 1, (setting, values)
        assert None not in values.values(), (setting, values)
    # The web app signs sessions with a configured secret, the same in every replica.
    assert talkers["web"]["SIRT_API_SESSION_SECRET"].startswith("${SIRT_API_SESSION_SECRET:?")


def test_every_long_running_service_has_a_health_check(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if one_shot(service):
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check["test"], name


def test_nothing_starts_before_what_it_needs_is_healthy_or_done(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, rule in depends.items():
            target = services[dependency]
            wanted = "service_completed_successfully" if one_shot(target) else "service_healthy"
            assert rule == {"condition": wanted}, (name, dependency, rule)
    app = {name for name, s in services.items() if s.get("image") == APP_IMAGE}
    assert app == {"migrate", "worker", "web", "scheduler"}
    for name in app - {"migrate"}:
        assert set(services[name]["depends_on"]) >= {"migrate", "temporal", "temporal-namespace"}
