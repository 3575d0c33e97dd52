"""The operator's files: the container image, the compose file (PostgreSQL, two webhook instances, a proxy), the
systemd unit. No Docker engine runs here: `docker compose config` is used where it exists, the structure is
checked in any case."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.test_architecture import FLOORS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def compose() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_has_postgres_two_webhook_bots_and_a_proxy() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "bot1", "bot2", "proxy"}
    assert services["db"]["image"].startswith("postgres:")
    for name in ("bot1", "bot2"):
        bot = services[name]
        command = bot["command"]
        assert command[0] == "run" and "--webhook" in command and "0.0.0.0" in command
        assert command[command.index("--port") + 1] == "8443"
        env = bot["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://") and "@db:5432/" in env["DATABASE_URL"]
        assert env["WEBHOOK_SECRET"].startswith("${WEBHOOK_SECRET")  # one secret, shared by every instance
        assert bot["depends_on"]["db"]["condition"] == "service_healthy"
        assert bot["restart"] == "unless-stopped"
        assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    assert services["bot1"]["command"] == services["bot2"]["command"]
    proxy = services["proxy"]
    assert any(v.startswith("./nginx.conf:") for v in proxy["volumes"])
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert "server bot1:8443" in nginx and "server bot2:8443" in nginx


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_accepts_the_file() -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker has no compose plugin here")
    env = {
        "WEBHOOK_URL": "https://bot.example.org/hook",
        "POSTGRES_PASSWORD": "x",
        "WEBHOOK_SECRET": "y",
        "PATH": "/usr/bin:/bin",
    }
    if not (ROOT / ".env").exists():
        pytest.skip("the compose file reads ../.env, which this checkout does not have")
    done = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_image_runs_qmsbot_as_a_user_and_holds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-[\w.-]*bookworm", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M))
    assert copied == set(FLOORS)  # a new package must go into the image too
    assert 'ENTRYPOINT ["qmsbot"]' in dockerfile and 'CMD ["run"]' in dockerfile
    assert ".[postgres]" in dockerfile


def test_the_systemd_unit_restarts_on_failure() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "qmsbot.service").read_text(encoding="utf-8"))
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("root", "0")
    assert " run" in service["ExecStart"] and service["ExecStart"].split()[0].endswith("/qmsbot")
    assert service["RestartPreventExitStatus"] == "2"  # a wrong setting is not retried forever
    assert unit["Install"]["WantedBy"] == "multi-user.target"
