"""The engine double itself: its schema against the SDK, its manifests against _images.py,
and the model's behaviour (exec cache, cache sharing, permissions, contracts), queried
over GraphQL as the SDK would."""

from __future__ import annotations

import inspect
import json
import re
import threading
import tomllib

import pytest
from clarity._images import IMAGES
from dagger.client import gen
from dagger.client.base import Type
from graphql import GraphQLObjectType, build_schema

from tests.dagger._queries import container, error, exec_args, run
from tests.dagger.conftest import ROOT
from tests.doubles.dagger_engine import EngineDouble
from tests.doubles.dagger_engine._api import SCHEMA_FILE
from tests.doubles.dagger_engine._fs import ignored
from tests.doubles.dagger_engine._manifests import MANIFESTS, manifest

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

PYTHON = IMAGES["python"].address
TRIVY = IMAGES["trivy"].address
COSIGN = IMAGES["cosign"].address
TERRAFORM = IMAGES["terraform"].address


# ------------------------------------------------------------------ the schema


def _sdk_fields() -> dict[str, dict[str, str]]:
    """GraphQL type -> field -> the source of the SDK method that selects it."""
    found: dict[str, dict[str, str]] = {}
    for name, cls in inspect.getmembers(gen, inspect.isclass):
        if not issubclass(cls, Type):
            continue
        graphql_name = "Query" if name == "Client" else name
        for method in vars(cls).values():
            try:
                source = inspect.getsource(method)
            except (TypeError, OSError):  # attributes and wrappers of builtins
                continue
            # Fields returning the object's own ID go through execute_sync (sync, start, stop).
            selected = re.search(
                r'(?:_select(?:_multiple)?\(\s*|execute_sync\(\s*self,\s*)"(\w+)"', source
            )
            if selected:
                found.setdefault(graphql_name, {})[selected.group(1)] = source
    return found


def test_every_field_and_argument_of_the_schema_is_the_sdks() -> None:
    schema = build_schema(SCHEMA_FILE.read_text())
    sdk = _sdk_fields()
    for type_name, gql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(gql_type, GraphQLObjectType):
            continue
        for field_name, gql_field in gql_type.fields.items():
            if field_name == "sync":  # Container.sync is selected by the client core
                continue
            source = sdk.get(type_name, {}).get(field_name)
            assert source is not None, f"{type_name}.{field_name} is not in dagger-io's client"
            for argument in gql_field.args:
                assert re.search(rf'Arg\(\s*"{argument}"', source), (
                    f"{type_name}.{field_name}({argument})"
                )


# ------------------------------------------------------------------ manifests


def test_there_is_one_manifest_per_pinned_image_and_dockerfile_base() -> None:
    keys = {p.stem for p in MANIFESTS.glob("*.toml")}
    assert keys >= set(IMAGES)
    dockerfiles = "".join(p.read_text() for p in (ROOT / "docker").glob("*/Dockerfile"))
    for key in sorted(keys - set(IMAGES)):
        spec = manifest(key)
        assert spec.repository is not None, (
            f"{key}.toml is for no pinned image: name its repository"
        )
        assert re.search(rf"^ARG \w+={re.escape(spec.repository)}:", dockerfiles, re.MULTILINE), (
            f"{key}.toml: no docker/*/Dockerfile pins {spec.repository}"
        )


@pytest.mark.parametrize("key", sorted(IMAGES))
def test_a_manifest_cites_its_upstream_at_a_commit_and_repeats_no_reference(key: str) -> None:
    spec = manifest(key)
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/blob/[0-9a-f]{40}/\S+", spec.source)
    text = (MANIFESTS / f"{key}.toml").read_text()
    ref = IMAGES[key]
    for repeated in (ref.repository, ref.digest, ref.digest.removeprefix("sha256:"), f":{ref.tag}"):
        assert repeated not in text, f"{key}.toml repeats {repeated}: it belongs to _images.py only"
    assert spec.user in {name for name, _, _ in spec.users} | {str(uid) for _, uid, _ in spec.users}
    data = tomllib.loads(text)
    assert set(data) >= {"source", "user", "workdir", "shell", "env", "users", "paths"}
    for binary in spec.binaries:
        directory = binary.rsplit("/", 1)[0]
        assert directory in dict(spec.env)["PATH"].split(":"), binary


@pytest.mark.parametrize("key", sorted(p.stem for p in MANIFESTS.glob("*.toml")))
def test_a_manifest_says_it_has_a_shell_exactly_when_it_lists_one(key: str) -> None:
    spec = manifest(key)
    shells = {b for b in spec.binaries if b.rsplit("/", 1)[-1] in ("sh", "bash", "dash")}
    assert (spec.shell is not None) == bool(shells), shells
    assert spec.shell is None or spec.shell in spec.binaries


def test_an_image_without_a_shell_cannot_run_one(engine: EngineDouble) -> None:
    assert manifest("cosign").shell is None
    data = run(
        engine,
        container(
            COSIGN, f"withExec(args: {exec_args('sh', '-c', 'true')}, expect: ANY)", "exitCode"
        ),
    )
    assert data["container"]["from"]["withExec"]["exitCode"] == 127


# ------------------------------------------------------------------ execs


def test_a_program_not_in_the_image_fails_like_exec(engine: EngineDouble) -> None:
    query = container(
        PYTHON, f"withExec(args: {exec_args('git', 'status')}, expect: ANY)", "stderr"
    )
    stderr = run(engine, query)["container"]["from"]["withExec"]["stderr"]
    assert stderr == 'exec: "git": executable file not found in $PATH\n'
    failure = error(
        engine, container(PYTHON, f"withExec(args: {exec_args('git', 'status')})", "stdout")
    )
    assert failure["extensions"]["_type"] == "EXEC_ERROR"
    assert failure["extensions"]["exitCode"] == 127
    assert (
        failure["message"] == 'process "git status" did not complete successfully: exit code: 127'
    )


def test_an_unchanged_exec_is_served_from_the_cache(engine: EngineDouble) -> None:
    def mkdir(nonce: str) -> str:
        return container(
            PYTHON,
            f'withEnvVariable(name: "NONCE", value: "{nonce}")',
            f"withExec(args: {exec_args('mkdir', '-p', '/x')})",
            "exitCode",
        )

    for query in (mkdir("a"), mkdir("a"), mkdir("b")):
        run(engine, query)
    assert len(engine.world.ran("mkdir")) == 2


def test_a_secrets_cache_key_is_its_plaintext(engine: EngineDouble) -> None:
    ids = [
        run(engine, f'{{ setSecret(name: "{n}", plaintext: "{p}") {{ id }} }}')["setSecret"]["id"]
        for n, p in (("a", "one"), ("b", "one"), ("a", "two"))
    ]
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]


def test_a_nonroot_user_cannot_read_a_secret_mounted_for_root(engine: EngineDouble) -> None:
    key = run(engine, '{ setSecret(name: "key", plaintext: "k") { id } }')["setSecret"]["id"]
    sign = exec_args(
        "cosign", "sign", "--yes", "--key", "/run/secrets/key", "r/x@sha256:" + "0" * 64
    )
    for owner, expected in (("", "permission denied"), ('owner: "65532", ', "UNAUTHORIZED")):
        query = container(
            COSIGN,
            f'withMountedSecret(path: "/run/secrets/key", source: "{key}", {owner}mode: 256)',
            f"withExec(args: {sign}, expect: ANY)",
            "stderr",
        )
        stderr = run(engine, query)["container"]["from"]["withMountedSecret"]["withExec"]["stderr"]
        assert expected in stderr


def _trivy_scan(engine: EngineDouble, sharing: str) -> str:
    cache = run(engine, '{ cacheVolume(key: "trivy") { id } }')["cacheVolume"]["id"]
    return container(
        TRIVY,
        f'withMountedCache(path: "/root/.cache/trivy", cache: "{cache}", sharing: {sharing})',
        'withEnvVariable(name: "TRIVY_CACHE_DIR", value: "/root/.cache/trivy")',
        'withNewFile(path: "/scan/image.tar", contents: "{\\"image\\": \\"IMAGE\\"}")',
        f"withExec(args: {exec_args('trivy', 'image', '--input', '/scan/image.tar')}, expect: ANY)",
        "stderr",
    )


@pytest.mark.parametrize(("sharing", "collisions"), [("SHARED", 1), ("LOCKED", 0), ("PRIVATE", 0)])
def test_two_trivy_runs_at_once_meet_its_cache_lock_only_on_a_shared_volume(
    engine: EngineDouble, sharing: str, collisions: int
) -> None:
    engine.world.run_seconds["trivy"] = 0.5
    template = _trivy_scan(engine, sharing)
    stderrs: list[str] = []

    def scan(image: str) -> None:
        data = run(engine, template.replace("IMAGE", image))
        stderrs.append(json.dumps(data))

    threads = [threading.Thread(target=scan, args=(image,)) for image in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (
        sum("cache may be in use by another process: timeout" in s for s in stderrs) == collisions
    )


def test_terraform_refuses_a_plan_file_without_its_directory(engine: EngineDouble) -> None:
    tf = 'terraform { backend \\"gcs\\" {} }\\nvariable \\"x\\" {}\\n'
    key = run(engine, '{ setSecret(name: "c", plaintext: "{}") { id } }')["setSecret"]["id"]
    steps = [
        f'withNewFile(path: "/root/main.tf", contents: "{tf}")',
        f'withMountedSecret(path: "/creds.json", source: "{key}")',
        'withEnvVariable(name: "GOOGLE_APPLICATION_CREDENTIALS", value: "/creds.json")',
        f"withExec(args: {exec_args('terraform', '-chdir=/root', 'init')})",
    ]
    plan = exec_args("terraform", "-chdir=/root", "plan", "-out=/out/tfplan")
    no_variable = run(
        engine, container(TERRAFORM, *steps, f"withExec(args: {plan}, expect: ANY)", "stderr")
    )
    assert "No value for required variable" in json.dumps(no_variable)
    steps.append('withEnvVariable(name: "TF_VAR_x", value: "1")')
    no_directory = run(
        engine, container(TERRAFORM, *steps, f"withExec(args: {plan}, expect: ANY)", "stderr")
    )
    assert "Failed to write plan file" in json.dumps(no_directory)
    assert "open /out/tfplan: no such file or directory" in json.dumps(no_directory)


def test_a_directory_from_a_container_is_lazy(engine: EngineDouble) -> None:
    failing = f"withExec(args: {exec_args('git', 'status')})"
    ident = run(engine, container(PYTHON, failing, 'directory(path: "/") { id }'))
    assert ident["container"]["from"]["withExec"]["directory"]["id"].startswith("Directory:")
    assert engine.world.executions == [], "getting an ID runs nothing"
    failure = error(engine, container(PYTHON, failing, 'directory(path: "/") { entries }'))
    assert failure["extensions"]["exitCode"] == 127


def test_a_service_must_start_its_emulator_on_the_exposed_port(engine: EngineDouble) -> None:
    emulators = IMAGES["emulators"].address
    for args, port, expected in (
        (
            ["gcloud", "emulators", "pubsub", "start", "--host-port=0.0.0.0:8085"],
            8085,
            "Invalid choice: 'pubsub'",
        ),
        (
            ["gcloud", "emulators", "firestore", "start", "--host-port=0.0.0.0:8080"],
            9000,
            "listens on 0.0.0.0:8080",
        ),
    ):
        service = run(
            engine,
            f'{{ container {{ from(address: "{emulators}") {{ withExposedPort(port: {port}) {{ asService(args: {json.dumps(args)}) {{ id }} }} }} }} }}',
        )["container"]["from"]["withExposedPort"]["asService"]["id"]
        failure = error(
            engine,
            container(
                PYTHON,
                f'withServiceBinding(alias: "svc", service: "{service}")',
                f"withExec(args: {exec_args('mkdir', '/x')})",
                "stdout",
            ),
        )
        assert expected in failure["message"]


# ------------------------------------------------------------------ ignore patterns


@pytest.mark.parametrize(
    ("path", "patterns", "excluded"),
    [
        (".git/config", [".git"], True),
        ("sub/.git/config", [".git"], False),
        ("a/b/.venv/bin/python", ["**/.venv"], True),
        ("plan/tfplan", ["plan"], True),
        ("terraform/plan.tf", ["plan"], False),
        (".coverage.123", [".coverage*"], True),
        ("x/.coverage", [".coverage*"], False),
        ("keep.tfstate", ["**/*.tfstate*", "!keep.tfstate"], False),
    ],
)
def test_ignore_patterns_follow_the_engines_syntax(
    path: str, patterns: list[str], excluded: bool
) -> None:
    assert ignored(path, patterns) is excluded


def test_the_runtime_hides_only_what_the_modules_own_environment_lacks() -> None:
    """The runtime process hides httpx2 from gql: the module's lockfile must not have it."""
    lock = tomllib.loads((ROOT / "ci" / "uv.lock").read_text())
    names = {package["name"] for package in lock["package"]}
    assert "httpx2" not in names
    assert {"dagger-io", "gql", "httpx"} <= names
