"""``dagger call dast`` against the engine double: the local stack built from docker/*/Dockerfile
and run as services on the emulators, and deployed targets tested with an ID token."""

from __future__ import annotations

from pathlib import Path

import pytest
from clarity._dast import DAST_PROJECT, LOCAL_TARGETS, TOKEN_VARIABLE, dast_command

from tests.doubles.dagger_engine import DaggerCall, EngineDouble, SecretArg
from tests.doubles.dagger_engine._runtime import ModuleRuntime

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

URLS = [
    "https://candidate---api-gateway-abc123-ew.a.run.app",
    "https://candidate---ml-service-abc123-ew.a.run.app",
]
TOKEN = "id-token-of-the-ci-identity"  # pragma: allowlist secret
CMD = '\nCMD ["python", "-m", "ml_service"]\n'


def test_local_mode_runs_each_image_s_own_command_on_the_emulators(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    result = dagger_call("dast")
    assert result.ok, result.text()
    summary = str(result.value)
    assert "dast / api-gateway" in summary
    assert "dast / ml-service" in summary
    runs = engine.world.ran("schemathesis")
    assert [run.argv for run in runs] == [tuple(dast_command(u)) for u in LOCAL_TARGETS.values()]
    # Each service ran its image's CMD (no args given; no shell in between), as the image's user.
    started = {run.argv: run for run in engine.world.service_starts if run.argv[0] == "python"}
    for module in ("api_gateway", "ml_service"):
        run = started["python", "-m", module]
        assert run.user == "10001:10001"
        assert {"PORT", "GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST"} <= set(run.env)
    # The topics were made once, in the services' project, on the emulator they use.
    (topology,) = engine.world.ran("python")
    assert topology.argv == ("python", "docker/pubsub/create_topology.py")
    assert [project for _, project in engine.world.topologies] == [DAST_PROJECT]


def test_each_emulator_runs_once_for_the_whole_run(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    """An exec stops the services it bound: without the emulators held, the gateway's run
    would meet a fresh Pub/Sub emulator with no topics (the engine would answer 404)."""
    assert dagger_call("dast").ok
    emulators = [run for run in engine.world.service_starts if run.argv[0] == "gcloud"]
    assert sorted(run.argv[3] if run.argv[1] == "beta" else run.argv[2] for run in emulators) == [
        "firestore",
        "pubsub",
    ]


def test_a_finding_fails_the_run_and_the_summary_names_the_service(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    engine.world.dast_findings["ml-service"] = "POST /v1/analyze answered 500 Internal Server Error"
    result = dagger_call("dast")
    assert not result.ok
    assert "FAILED (1 failing)" in str(result.error)
    assert "--- dast / ml-service failed (exit 1)" in str(result.error)
    assert "POST /v1/analyze answered 500" in str(result.error)
    assert len(engine.world.ran("schemathesis")) == 2, "the other service is tested too"


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            (
                CMD,
                CMD.replace(
                    '"ml_service"]',
                    '"uvicorn", "ml_service.main:app", "--host", "0.0.0.0", "--port", "9000"]',
                ),
                "health check errored: nothing listens on port 8080/tcp",
            ),
            id="port-not-from-env",
        ),
        pytest.param(
            (
                "    PORT=8080\n",
                "    HOST=127.0.0.1 \\\n    PORT=8080\n",
                "its command listens on 127.0.0.1:8080",
            ),
            id="loopback-only",
        ),
        pytest.param(
            (CMD, CMD.replace('"ml_service"', '"ml_svc"'), "No module named ml_svc"),
            id="no-such-module",
        ),
        pytest.param(
            (
                CMD,
                "\nCMD exec python -m ml_service\n",
                'exec: \\"/bin/sh\\": stat /bin/sh: no such file or directory',
            ),
            id="shell-form-on-distroless",
        ),
    ],
)
def test_a_broken_service_command_fails_the_start_as_the_engine_would(
    edit: tuple[str, str, str],
    engine: EngineDouble,
    module_runtime: ModuleRuntime,
    repository: Path,
) -> None:
    old, new, expected = edit
    dockerfile = repository / "docker/ml-service/Dockerfile"
    text = dockerfile.read_text()
    assert old in text
    dockerfile.write_text(text.replace(old, new))
    result = DaggerCall(engine, module_runtime, root=repository)("dast")
    assert not result.ok
    assert "start ml-service:" in result.text()
    assert expected.replace("\\", "") in result.text().replace("\\", "")
    assert engine.world.ran("schemathesis") == [], "no target was tested"


def test_remote_mode_needs_a_token_and_runs_nothing_without_one(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    result = dagger_call("dast", urls=URLS)
    assert not result.ok
    assert "dast --urls needs --token: an ID token for them" in str(result.error)
    assert engine.world.executions == []


def test_remote_mode_hands_the_token_over_only_as_a_secret_variable(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    result = dagger_call("dast", urls=URLS, token=SecretArg(TOKEN, name="token"))
    assert result.ok, result.text()
    runs = engine.world.ran("schemathesis")
    assert [run.argv[4] for run in runs] == [f"{url}/openapi.json" for url in URLS]
    for run in runs:
        assert run.secrets == (TOKEN_VARIABLE,)
        assert run.argv[2] != "tests/dast/schemathesis.toml", "the authenticated copy is used"
    for execution in [*engine.world.executions, *engine.world.service_starts]:
        assert not any(TOKEN in arg for arg in execution.argv), execution.argv
    assert TOKEN not in result.text()
    assert engine.world.service_starts == [], "deployed targets: no local stack"
