"""The engine double's images as services: Dockerfile stages, service lifetimes, ``sh``,
uvicorn, schemathesis and what a service of the local stack needs, queried over GraphQL as
the SDK would (the functions that use them are in test_dast_runs.py)."""

from __future__ import annotations

import json

import pytest
from clarity._images import IMAGES
from clarity._source import SOURCE_IGNORE

from tests.dagger._queries import chain, error, exec_args, leaf, run
from tests.dagger.conftest import ROOT
from tests.doubles.dagger_engine import EngineDouble
from tests.doubles.dagger_engine._fs import Entry, FileEntry, Tree, load_host_tree
from tests.doubles.dagger_engine._objects import Directory
from tests.doubles.dagger_engine._state import RunningService
from tests.doubles.dagger_engine._world import World
from tests.doubles.dagger_engine.contracts.stack import service_problems

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

PYTHON = IMAGES["python"].address
EMULATORS = IMAGES["emulators"].address
PUBSUB = ["gcloud", "beta", "emulators", "pubsub", "start", "--host-port=0.0.0.0:8085"]


@pytest.fixture(scope="module")
def source() -> Tree:
    """The repository as the module receives it."""
    return load_host_tree(ROOT, exclude=SOURCE_IGNORE)


def _directory(engine: EngineDouble, tree: Tree) -> str:
    return engine.engine.store.id_of(Directory.of(tree))


def _built(engine: EngineDouble, tree: Tree, dockerfile: str, *steps: str, select: str) -> str:
    root = f'node(id: "{_directory(engine, tree)}") {{ ... on Directory'
    query = chain(root, f'dockerBuild(dockerfile: "{dockerfile}")', *steps, select=select)
    return query + " }"


def _with_file(tree: Tree, path: str, text: str) -> dict[str, Entry]:
    return {**tree, path: FileEntry(content=text.encode())}


# ------------------------------------------------------------------ docker builds


@pytest.mark.parametrize("service", ["api-gateway", "ml-service"])
def test_the_image_ships_its_server_and_package_but_no_dev_tool(
    engine: EngineDouble, source: Tree, service: str
) -> None:
    dockerfile = f"docker/{service}/Dockerfile"
    data = run(
        engine,
        _built(engine, source, dockerfile, 'directory(path: "/opt/venv/bin")', select="entries"),
    )
    scripts = set(leaf(data)["entries"])
    assert "uvicorn" in scripts
    assert not scripts & {"schemathesis", "pytest", "ruff", "mypy"}, "dev tools are a dev group"
    site = 'directory(path: "/opt/venv/lib/python3.11/site-packages")'
    packages = set(
        leaf(run(engine, _built(engine, source, dockerfile, site, select="entries")))["entries"]
    )
    assert {"api_gateway", "clarity_common", "ml_service"} <= packages
    assert not any(name.endswith(".pth") for name in packages), "installed, not editable"
    config = leaf(run(engine, _built(engine, source, dockerfile, select="user workdir")))
    assert config == {"user": "10001:10001", "workdir": "/app"}


def test_entrypoint_resets_an_inherited_cmd_and_shell_form_runs_through_sh(
    engine: EngineDouble, source: Tree
) -> None:
    dockerfile = "docker/probe/Dockerfile"
    text = (
        f"ARG BASE=python:3.11@{IMAGES['python'].digest}\n"
        "FROM ${BASE}\nENTRYPOINT exec mkdir /probe\nEXPOSE 7000\n"
    )
    tree = _with_file(source, dockerfile, text)
    service = leaf(run(engine, _built(engine, tree, dockerfile, "asService", select="id")))["id"]
    failure = error(
        engine,
        chain(
            f'container {{ from(address: "{PYTHON}")',
            f'withServiceBinding(alias: "probe", service: "{service}")',
            f"withExec(args: {exec_args('mkdir', '/x')})",
            select="stdout",
        )
        + " }",
    )
    # The base's CMD ["python3"] is gone; the shell form ran `exec mkdir`, which exits.
    (started,) = engine.world.service_starts
    assert started.argv == ("/bin/sh", "-c", "exec mkdir /probe")
    assert "start probe: service exited before healthcheck" in failure["message"]


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        pytest.param(
            "FROM python:3.11@sha256:" + "0" * 64 + "\n",
            "its digest is not the one ci/src/clarity/_images.py pins for 'python'",
            id="another-python",
        ),
        pytest.param(
            "FROM quay.io/unknown/image:1\n",
            "no manifest for the base image quay.io/unknown/image:1",
            id="unknown-base",
        ),
        pytest.param(
            "FROM scratch AS one\nFROM scratch\nCOPY --from=one /missing /x\n",
            '"/missing": not found in --from=one',
            id="copy-from-missing",
        ),
        pytest.param(
            "FROM scratch\nCOPY tests/dast/hooks.py /x\n",
            '"/tests/dast/hooks.py": not found',
            id="dockerignored",
        ),
        pytest.param(
            f"FROM {PYTHON}\nRUN uv sync --locked\n",
            'process "/bin/sh -c uv sync --locked" did not complete successfully: exit code: 127',
            id="run-fails",
        ),
    ],
)
def test_a_build_fails_as_buildkit_does(
    engine: EngineDouble, source: Tree, dockerfile: str, expected: str
) -> None:
    tree = _with_file(source, "docker/probe/Dockerfile", dockerfile)
    failure = error(engine, _built(engine, tree, "docker/probe/Dockerfile", select="user"))
    assert expected in failure["message"]


# ------------------------------------------------------------------ service lifetimes


def _bind_and_run(engine: EngineDouble, service: str, marker: str) -> None:
    run(
        engine,
        chain(
            f'container {{ from(address: "{PYTHON}")',
            f'withServiceBinding(alias: "pubsub", service: "{service}")',
            f"withExec(args: {exec_args('mkdir', marker)})",
            select="exitCode",
        )
        + " }",
    )


def _starts(world: World) -> int:
    return sum(1 for started in world.service_starts if started.argv[0] == "gcloud")


@pytest.fixture
def pubsub(engine: EngineDouble) -> str:
    """A Pub/Sub emulator service's ID."""
    query = chain(
        f'container {{ from(address: "{EMULATORS}")',
        "withExposedPort(port: 8085)",
        f"asService(args: {json.dumps(PUBSUB)})",
        select="id",
    )
    return str(leaf(run(engine, query + " }"))["id"])


def test_an_exec_s_services_stop_with_it_unless_started(engine: EngineDouble, pubsub: str) -> None:
    _bind_and_run(engine, pubsub, "/a")
    _bind_and_run(engine, pubsub, "/b")
    assert _starts(engine.world) == 2, "each exec met a fresh emulator"
    run(engine, f'{{ node(id: "{pubsub}") {{ ... on Service {{ start }} }} }}')
    _bind_and_run(engine, pubsub, "/c")
    _bind_and_run(engine, pubsub, "/d")
    assert _starts(engine.world) == 3, "both execs joined the started one"
    run(engine, f'{{ node(id: "{pubsub}") {{ ... on Service {{ stop }} }} }}')
    _bind_and_run(engine, pubsub, "/e")
    assert _starts(engine.world) == 4


# ------------------------------------------------------------------ sh


@pytest.mark.parametrize(
    ("script", "exit_code", "stdout"),
    [
        ("if [ -s /nowhere ]; then exit 3; fi && echo went on", 0, "went on\n"),
        ('export X=1; [ "$X" = 1 ] && echo "${Y:-default} $X"', 0, "default 1\n"),
        ("false || echo recovered; exec mkdir /made; echo never", 0, "recovered\n"),
        ("mkdir /a/b/c", 1, ""),
        ("nosuchtool --flag", 127, ""),
        ("if true; then echo unfinished", 2, ""),
    ],
)
def test_sh_runs_the_commands_of_a_script_through_their_contracts(
    engine: EngineDouble, script: str, exit_code: int, stdout: str
) -> None:
    query = chain(
        f'container {{ from(address: "{PYTHON}")',
        f"withExec(args: {exec_args('sh', '-c', script)}, expect: ANY)",
        select="exitCode stdout",
    )
    result = leaf(run(engine, query + " }"))
    assert (result["exitCode"], result["stdout"]) == (exit_code, stdout)


def test_sh_refuses_loudly_what_it_does_not_model(engine: EngineDouble) -> None:
    query = chain(
        f'container {{ from(address: "{PYTHON}")',
        f"withExec(args: {exec_args('sh', '-c', 'ls | wc -l')})",
        select="exitCode",
    )
    assert "does not model" in error(engine, query + " }")["message"]


# ------------------------------------------------------------------ schemathesis


def _schemathesis(
    engine: EngineDouble,
    config: str,
    location: str,
    *,
    token: str | None = None,
    secret: bool = True,
) -> dict[str, object]:
    steps = [
        'withNewFile(path: "/usr/local/bin/schemathesis", contents: "stub", permissions: 493)',
        'withWorkdir(path: "/src")',
        'withNewFile(path: "/src/tests/dast/hooks.py", contents: "")',
        f'withNewFile(path: "/src/st.toml", contents: {json.dumps(config)})',
    ]
    if token is not None and secret:
        secret_id = run(engine, f'{{ setSecret(name: "t", plaintext: "{token}") {{ id }} }}')
        steps.append(f'withSecretVariable(name: "TOKEN", secret: "{secret_id["setSecret"]["id"]}")')
    elif token is not None:
        steps.append(f'withEnvVariable(name: "TOKEN", value: "{token}")')
    argv = exec_args("schemathesis", "--config-file", "st.toml", "run", location)
    steps.append(f"withExec(args: {argv}, expect: ANY)")
    query = chain(
        f'container {{ from(address: "{PYTHON}")', *steps, select="exitCode stdout stderr"
    )
    return leaf(run(engine, query + " }"))


AUTHENTICATED = 'headers = { Authorization = "Bearer ${TOKEN}" }\nhooks = "tests/dast/hooks.py"\n'
STRICT = '[warnings]\nfail-on = ["missing_auth"]\n'
REMOTE = "https://candidate---api-gateway-abc123-ew.a.run.app/openapi.json"
SECRET = ("t0k3n", True)
PLAIN = ("t0k3n", False)


@pytest.mark.parametrize(
    ("config", "token", "expected"),
    [
        pytest.param(AUTHENTICATED + STRICT, SECRET, (0, "every check passed"), id="secret"),
        pytest.param(
            AUTHENTICATED + STRICT, None, (2, "Missing environment variable: `TOKEN`"), id="unset"
        ),
        pytest.param(
            AUTHENTICATED + STRICT,
            PLAIN,
            (1, "refuses credentials from plain variables: TOKEN"),
            id="plain",
        ),
        pytest.param(STRICT, None, (1, "Missing authentication"), id="no-header"),
        pytest.param(
            AUTHENTICATED + "[generation]\nmax-exampels = 3\n",
            SECRET,
            (2, "max-exampels"),
            id="bad-key",
        ),
        pytest.param(
            'hooks = "tests/dast/nope.py"\n',
            None,
            (2, "Unable to load Schemathesis extension hooks"),
            id="no-hooks",
        ),
    ],
)
def test_schemathesis_loads_its_configuration_as_schemathesis_does(
    engine: EngineDouble,
    config: str,
    token: tuple[str, bool] | None,
    expected: tuple[int, str],
) -> None:
    value, secret = token if token is not None else (None, True)
    result = _schemathesis(engine, config, REMOTE, token=value, secret=secret)
    output = f"{result['stdout']}{result['stderr']}"
    assert (result["exitCode"], expected[1] in output) == (expected[0], True), output
    assert "t0k3n" not in output


def test_schemathesis_cannot_reach_a_host_nobody_bound(engine: EngineDouble) -> None:
    result = _schemathesis(engine, "", "http://api-gateway:8080/openapi.json")
    assert result["exitCode"] == 2
    assert "Failed to resolve 'api-gateway'" in str(result["stderr"])


# ------------------------------------------------------------------ the Pub/Sub topology

SCRIPT = (ROOT / "docker/pubsub/create_topology.py").read_text()
PUBSUB_DIST = "/usr/local/lib/python3.11/site-packages/google_cloud_pubsub-2.0.0.dist-info/METADATA"


@pytest.mark.parametrize(
    ("installed", "env", "expected"),
    [
        pytest.param(
            True,
            {"PUBSUB_EMULATOR_HOST": "pubsub:8085"},
            (0, "clarity-loop-local"),
            id="default-project",
        ),
        pytest.param(
            True,
            {"PUBSUB_EMULATOR_HOST": "pubsub:8085", "GOOGLE_CLOUD_PROJECT": "clarity-dast"},
            (0, "clarity-dast"),
            id="project",
        ),
        pytest.param(True, {}, (2, "PUBSUB_EMULATOR_HOST is not set"), id="no-host"),
        pytest.param(
            True,
            {"PUBSUB_EMULATOR_HOST": "emulator:8085"},
            (1, "nothing listens on emulator:8085"),
            id="unbound",
        ),
        pytest.param(
            False,
            {"PUBSUB_EMULATOR_HOST": "pubsub:8085"},
            (1, "No module named 'google'"),
            id="no-client",
        ),
    ],
)
def test_the_topology_script_needs_its_client_and_a_bound_emulator(
    engine: EngineDouble,
    pubsub: str,
    installed: bool,
    env: dict[str, str],
    expected: tuple[int, str],
) -> None:
    steps = [
        'withWorkdir(path: "/src")',
        f'withNewFile(path: "docker/pubsub/create_topology.py", contents: {json.dumps(SCRIPT)})',
        f'withServiceBinding(alias: "pubsub", service: "{pubsub}")',
        *(f'withEnvVariable(name: "{k}", value: "{v}")' for k, v in env.items()),
    ]
    if installed:
        steps.append(f'withNewFile(path: "{PUBSUB_DIST}", contents: "Name: google-cloud-pubsub")')
    argv = exec_args("python", "docker/pubsub/create_topology.py")
    query = chain(
        f'container {{ from(address: "{PYTHON}")',
        *steps,
        f"withExec(args: {argv}, expect: ANY)",
        select="exitCode stdout stderr",
    )
    result = leaf(run(engine, query + " }"))
    code, text = expected
    assert result["exitCode"] == code, result
    if code == 0:
        assert [project for _, project in engine.world.topologies] == [text]
    else:
        assert text in str(result["stderr"])
        assert engine.world.topologies == set()


# ------------------------------------------------------------------ the local stack's needs


def _service(alias: str, env: dict[str, str], **bound: RunningService) -> RunningService:
    return RunningService(
        alias=alias,
        digest=alias,
        instance=f"{alias}#1",
        argv=("uvicorn",)
        if not alias.endswith("emulator")
        else ("gcloud", alias.split("-", maxsplit=1)[0]),
        env=tuple(env.items()),
        exposed=(8080,),
        listening=("0.0.0.0:8080", "0.0.0.0:8085"),
        bindings=tuple(bound.items()),
    )


def test_a_service_names_what_it_could_not_reach() -> None:
    world = World()
    emulators = {
        "firestore": _service("firestore-emulator", {}),
        "pubsub": _service("pubsub-emulator", {}),
    }
    env = {"FIRESTORE_EMULATOR_HOST": "firestore:8080", "PUBSUB_EMULATOR_HOST": "pubsub:8085"}
    gateway = _service(
        "api-gateway",
        {**env, "GOOGLE_CLOUD_PROJECT": "clarity-dast", "ML_SERVICE_URL": "http://ml-service:8080"},
        **emulators,
    )
    world.created_topology("pubsub-emulator#1", "clarity-loop-local")
    problems = service_problems(gateway, world)
    assert len(problems) == 2, problems
    assert "no topics in project 'clarity-dast'" in problems[0]
    assert "ML_SERVICE_URL=http://ml-service:8080" in problems[1]
    world.created_topology("pubsub-emulator#1", "clarity-dast")
    ml = _service("ml-service", {"FIRESTORE_EMULATOR_HOST": "firestore:8080"}, **emulators)
    assert service_problems(ml, world) == [
        "PUBSUB_EMULATOR_HOST is not set: ml-service would call Google's pubsub API, which it "
        "cannot reach without credentials"
    ]
