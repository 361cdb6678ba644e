"""The pytest contract for the e2e tier, queried over GraphQL as the SDK would: the suite's
own files in a container, the ID token file as the exec's user sees it, what the URL reaches
(the function that runs this is in test_e2e_runs.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clarity._e2e import E2E_SUITE, TOKEN_FILE, TOKEN_FILE_VARIABLE, e2e_command
from clarity._images import IMAGES

from tests.dagger._queries import chain, exec_args, leaf, run
from tests.dagger.conftest import ROOT
from tests.doubles.dagger_engine import EngineDouble
from tests.doubles.dagger_engine._fs import FileEntry
from tests.doubles.dagger_engine._objects import Directory

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

PYTHON = IMAGES["python"].address
EMULATORS = IMAGES["emulators"].address
GATEWAY = "https://clarity-api-gateway-abc123-ew.a.run.app"
TOKEN = "t0k3n-of-the-ci"  # pragma: allowlist secret
SUITE_FILES = ("pyproject.toml", "tests/conftest.py", "tests/e2e/conftest.py", E2E_SUITE)


def _pytest(
    engine: EngineDouble,
    argv: list[str],
    *,
    token: str | None = TOKEN,
    owner: str = "",
    mode: int = 0o400,
    user: str = "root",
    variable: bool = True,
    steps: tuple[str, ...] = (),
) -> dict[str, object]:
    """``argv`` run from /src holding the suite's files, with the token mounted as asked."""
    tree = {name: FileEntry(content=(ROOT / name).read_bytes()) for name in SUITE_FILES}
    source = engine.engine.store.id_of(Directory.of(tree))
    chained = [
        'withNewFile(path: "/usr/local/bin/pytest", contents: "stub", permissions: 493)',
        f'withDirectory(path: "/src", source: "{source}")',
        'withWorkdir(path: "/src")',
        *steps,
    ]
    if token is not None:
        secret = run(
            engine,
            f"{{ setSecret(name: {json.dumps('t')}, plaintext: {json.dumps(token)}) {{ id }} }}",
        )
        chained.append(
            f'withMountedSecret(path: "{TOKEN_FILE}", source: "{secret["setSecret"]["id"]}", '
            f'owner: "{owner}", mode: {mode})'
        )
    if variable:
        chained.append(f'withEnvVariable(name: "{TOKEN_FILE_VARIABLE}", value: "{TOKEN_FILE}")')
    chained += [f'withUser(name: "{user}")', f"withExec(args: {exec_args(*argv)}, expect: ANY)"]
    query = chain(
        f'container {{ from(address: "{PYTHON}")', *chained, select="exitCode stdout stderr"
    )
    return leaf(run(engine, query + " }"))


def _outcome(result: dict[str, object]) -> tuple[object, str]:
    return result["exitCode"], f"{result['stdout']}{result['stderr']}"


JOURNEY = e2e_command(GATEWAY, timeout_seconds=30)


@pytest.mark.parametrize(
    ("mount", "expected"),
    [
        pytest.param({}, (0, "5 passed"), id="root-reads-its-file"),
        pytest.param({"owner": "10001", "user": "10001"}, (0, "5 passed"), id="owned-by-the-user"),
        pytest.param(
            {"user": "10001"},
            (1, f"UsageError: cannot read the ID token file {TOKEN_FILE}: Permission denied"),
            id="root-s-file-as-another-user",
        ),
        pytest.param(
            {"owner": "10001", "mode": 0o440, "user": "10001"},
            (1, "refuses an ID token file others can read"),
            id="group-readable",
        ),
        pytest.param(
            {"token": None},
            (1, f"cannot read the ID token file {TOKEN_FILE}: No such file or directory"),
            id="not-mounted",
        ),
        pytest.param({"token": " \n"}, (1, "is empty"), id="empty"),
        pytest.param(
            {"variable": False},
            (4, f"set {TOKEN_FILE_VARIABLE} (e.g. a file holding"),
            id="variable-unset",
        ),
    ],
)
def test_the_token_file_is_read_as_the_exec_s_user_and_kept_owner_only(
    engine: EngineDouble, mount: dict[str, Any], expected: tuple[int, str]
) -> None:
    code, output = _outcome(_pytest(engine, JOURNEY, **mount))
    assert (code, expected[1] in output) == (expected[0], True), output
    assert TOKEN not in output


def test_a_token_in_a_plain_variable_is_refused(engine: EngineDouble) -> None:
    leak = f'withEnvVariable(name: "ID_TOKEN", value: "{TOKEN}")'
    code, output = _outcome(_pytest(engine, JOURNEY, steps=(leak,)))
    assert code == 1
    assert "refuses an ID token in argv or a plain variable" in output


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://clarity-api-gateway-abc123-ew.a.run.app", "answered 302", id="http"),
        pytest.param("https://gateway", "Failed to resolve 'gateway'", id="unbound-alias"),
    ],
)
def test_the_url_must_reach_a_deployed_https_gateway(
    engine: EngineDouble, url: str, expected: str
) -> None:
    code, output = _outcome(_pytest(engine, e2e_command(url, timeout_seconds=30)))
    assert code == 1
    assert output.count("JourneyFailed: POST /v1/healthkit/samples") == 5
    assert expected in output


def test_a_bound_service_must_be_able_to_answer(engine: EngineDouble) -> None:
    """The suite reaches a bound service; one without its emulators answers 500."""
    service = chain(
        f'container {{ from(address: "{EMULATORS}")',
        "withExposedPort(port: 8085)",
        f"asService(args: {json.dumps(['gcloud', 'beta', 'emulators', 'pubsub', 'start', '--host-port=0.0.0.0:8085'])})",
        select="id",
    )
    service_id = leaf(run(engine, service + " }"))["id"]
    bind = f'withServiceBinding(alias: "api-gateway", service: "{service_id}")'
    argv = e2e_command("http://api-gateway:8085", timeout_seconds=30)
    code, output = _outcome(_pytest(engine, argv, steps=(bind,)))
    assert code == 1
    assert "answered 500, expected 201: FIRESTORE_EMULATOR_HOST is not set" in output


def test_the_local_stack_needs_the_emulators(engine: EngineDouble) -> None:
    """Without a base URL the suite starts the local stack, which needs gcloud or emulators."""
    code, output = _outcome(_pytest(engine, ["pytest", E2E_SUITE, "-m", "e2e"], token=None))
    assert code == 1
    assert "No such file or directory: 'gcloud'" in output


def test_an_option_no_conftest_registers_is_a_usage_error(engine: EngineDouble) -> None:
    code, output = _outcome(_pytest(engine, [*JOURNEY, "--e2e-token", TOKEN]))
    assert code == 4
    assert "pytest: error: unrecognized arguments: --e2e-token" in output


def test_a_node_id_runs_that_test_only(engine: EngineDouble) -> None:
    node = f"{E2E_SUITE}::test_a_bad_batch_is_rejected_and_nothing_is_stored"
    argv = [node if arg == E2E_SUITE else arg for arg in JOURNEY]
    code, output = _outcome(_pytest(engine, argv))
    assert code == 0
    assert output.splitlines()[0] == f"PASSED {node}"
    assert "1 passed" in output
