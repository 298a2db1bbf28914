"""docker-compose.yml and the Dockerfile promise only what the code really has.

No Docker engine runs here, so the files are read and checked against the CLI and the
settings: every command a container runs exists, every variable it sets is read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import typer
import yaml

from tracker.cli import app
from tracker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def cli_command(argv: list[str]) -> click.Command:
    """Resolve `tracker a b --opts` to the click command that would run."""
    command: click.Command = typer.main.get_command(app)
    ctx = click.Context(command)
    words = argv[1:]
    # Typer vendors its own click, so ask for the behaviour, not the class.
    while hasattr(command, "get_command") and words and not words[0].startswith("-"):
        sub = command.get_command(ctx, words[0])
        assert sub is not None, f"tracker has no command {words[0]!r}"
        command, words = sub, words[1:]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in words:
        if word.startswith("--"):
            assert word in options, f"{' '.join(argv)}: no option {word}"
    return command


def test_compose_has_the_services_operators_expect() -> None:
    services = compose()["services"]
    assert {"postgres", "migrate", "api", "worker"} <= set(services)
    assert "pgdata" in compose()["volumes"]
    assert any("pgdata:" in v for v in services["postgres"]["volumes"])
    for name in ("postgres", "api", "worker"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
        assert services[name]["restart"] == "unless-stopped"
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_container_command_is_a_real_cli_command() -> None:
    for service in compose()["services"].values():
        command = service.get("command")
        if command and command[0] == "tracker":
            cli_command(command)
        check = service.get("healthcheck", {}).get("test", [])
        if len(check) > 1 and check[1] == "tracker":
            cli_command(check[1:])


def test_every_environment_variable_is_a_setting() -> None:
    known = {f"TRACKER_{name.upper()}" for name in Settings.model_fields}
    dockerfile = (ROOT / "Dockerfile").read_text()
    names = set(re.findall(r"\b(TRACKER_[A-Z_]+)=", dockerfile)) - {"TRACKER_MIGRATIONS"}
    for service in compose()["services"].values():
        names |= {n for n in service.get("environment", {}) if n.startswith("TRACKER_")}
    assert names and names <= known, f"not settings: {sorted(names - known)}"


def test_the_dockerfile_is_slim_non_root_and_caches_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(stages) == 2 and all("slim" in s for s in stages)
    final = text.split("\nFROM ")[-1]
    assert re.search(r"^USER (?!root)\w+", final, re.MULTILINE)
    assert "gcc" not in final and "build-essential" not in final
    # Dependencies install from pyproject.toml before the code is copied in.
    assert text.index("COPY pyproject.toml") < text.index("COPY tracker ")
    cmd = re.search(r'^CMD \[(.*)\]', final, re.MULTILINE)
    assert cmd is not None
    cli_command([part.strip().strip('"') for part in cmd.group(1).split(",")])


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
