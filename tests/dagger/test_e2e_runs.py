"""``dagger call e2e`` against the engine double: the journey suite (tests/e2e) in the workspace
container against a deployed gateway, the ID token only as an owner-only file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clarity._caching import RUN_NONCE
from clarity._e2e import E2E_SUITE, TOKEN_FILE, TOKEN_FILE_VARIABLE, e2e_command
from clarity._settings import parse_settings, settings_path
from clarity.main import Environment

from tests.dagger.conftest import ROOT
from tests.doubles.dagger_engine import CallResult, DaggerCall, EngineDouble, SecretArg
from tests.doubles.dagger_engine._runtime import ModuleRuntime

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

HOST = "candidate---clarity-api-gateway-abc123-ew.a.run.app"
GATEWAY = f"https://{HOST}"
TOKEN = "id-token-of-the-ci-identity"  # pragma: allowlist secret
JOURNEY_TESTS = 5
"""The test functions of tests/e2e/test_journey.py (checked below against the file)."""


def _e2e(dagger_call: DaggerCall, url: str = GATEWAY, **more: Any) -> CallResult:
    return dagger_call(
        "e2e", env=Environment.staging, url=url, token=SecretArg(TOKEN, name="token"), **more
    )


def _timeout() -> float:
    text = (ROOT / settings_path("staging")).read_text()
    return parse_settings("staging", text).delivery.rollout.journey.timeout_seconds


def test_the_suite_runs_against_the_url_with_the_token_only_as_a_file(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    result = _e2e(dagger_call)
    assert result.ok, result.text()
    (run,) = engine.world.ran("pytest")
    assert run.argv == tuple(e2e_command(GATEWAY, timeout_seconds=_timeout()))
    assert TOKEN_FILE_VARIABLE in run.env
    assert run.secrets == (), "a file, not a secret variable"
    assert str(result.value).count(f"PASSED {E2E_SUITE}::") == JOURNEY_TESTS
    source = (ROOT / E2E_SUITE).read_text()
    assert source.count("\ndef test_") == JOURNEY_TESTS
    for execution in [*engine.world.executions, *engine.world.service_starts]:
        assert not any(TOKEN in arg for arg in execution.argv), execution.argv
    assert TOKEN not in result.text()


def test_a_second_call_with_the_same_inputs_runs_the_suite_again(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    assert _e2e(dagger_call).ok
    installs = len(engine.world.ran("uv"))
    assert _e2e(dagger_call).ok
    runs = engine.world.ran("pytest")
    assert len(runs) == 2, "the gateway is read again, not the cached answer"
    assert all(RUN_NONCE in run.env for run in runs)
    assert len(engine.world.ran("uv")) == installs, "the workspace itself stays cached"


def test_the_expected_version_reaches_the_suite_and_is_checked_there(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    engine.world.served_versions[HOST] = "1.4.0"
    stale = _e2e(dagger_call, expect_version="1.3.0")
    assert not stale.ok
    assert "version '1.4.0', expected '1.3.0'" in str(stale.error)
    assert f"1 failed, {JOURNEY_TESTS - 1} passed" in str(stale.error)
    current = _e2e(dagger_call, expect_version="1.4.0")
    assert current.ok, current.text()
    runs = engine.world.ran("pytest")
    assert [run.argv[-2:] for run in runs] == [
        ("--e2e-expect-version", "1.3.0"),
        ("--e2e-expect-version", "1.4.0"),
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"http://{HOST}", "is not an https URL"),
        (f"{GATEWAY}/v1/batches", "is not a base URL"),
        (f"https://user:pw@{HOST}", "carries credentials"),
    ],
)
def test_a_url_that_is_not_an_https_origin_is_refused_before_anything_runs(
    dagger_call: DaggerCall, engine: EngineDouble, url: str, problem: str
) -> None:
    result = _e2e(dagger_call, url=url)
    assert not result.ok
    assert f"--url: {url!r} {problem}" in str(result.error)
    assert engine.world.executions == []


def test_an_unreachable_gateway_fails_every_test_with_the_journeys_message(
    dagger_call: DaggerCall,
) -> None:
    result = _e2e(dagger_call, url="https://api-gateway")
    assert not result.ok
    assert "FAILED (1 failing)" in str(result.error)
    assert "no answer from https://api-gateway (ConnectError: Failed to resolve" in result.text()
    assert f"{JOURNEY_TESTS} failed" in result.text()


def test_an_empty_token_errors_every_test_as_the_suite_does(dagger_call: DaggerCall) -> None:
    result = dagger_call(
        "e2e", env=Environment.staging, url=GATEWAY, token=SecretArg("\n", name="token")
    )
    assert not result.ok
    assert f"UsageError: the ID token file {TOKEN_FILE} is empty" in result.text()
    assert f"{JOURNEY_TESTS} errors" in result.text()


def test_a_failing_step_fails_the_call_with_the_journeys_message(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    engine.world.journey_failures[HOST] = (
        "GET /v1/batches/e2e-1 answered 503: 'no healthy upstream'"
    )
    result = _e2e(dagger_call)
    assert not result.ok
    assert f"--- e2e / staging {GATEWAY} failed (exit 1)" in str(result.error)
    assert "JourneyFailed: GET /v1/batches/e2e-1 answered 503" in str(result.error)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            (E2E_SUITE, None, f"ERROR: file or directory not found: {E2E_SUITE}"),
            id="no-suite",
        ),
        pytest.param(
            (
                "tests/conftest.py",
                ('"CLARITY_E2E_ID_TOKEN_FILE"', '"CLARITY_E2E_TOKEN_PATH"'),
                "--e2e-base-url needs an ID token for it",
            ),
            id="token-variable-renamed",
        ),
        pytest.param(
            (
                "tests/conftest.py",
                ('"--e2e-expect-version"', '"--e2e-version"'),
                "unrecognized arguments: --e2e-expect-version",
            ),
            id="option-renamed",
        ),
    ],
)
def test_the_suite_and_the_options_it_registers_come_from_the_source(
    edit: tuple[str, tuple[str, str] | None, str],
    engine: EngineDouble,
    module_runtime: ModuleRuntime,
    repository: Path,
) -> None:
    path, change, expected = edit
    target = repository / path
    if change is None:
        target.unlink()
    else:
        text = target.read_text()
        assert change[0] in text
        target.write_text(text.replace(*change))
    engine.world.served_versions[HOST] = "1.4.0"
    call = DaggerCall(engine, module_runtime, root=repository)
    result = _e2e(call, expect_version="1.4.0")
    assert not result.ok
    assert expected in result.text()
    assert "exit 4" in str(result.error), "pytest's usage error"
