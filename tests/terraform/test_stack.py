"""How an environment is composed: a thin root, one call to the stack, the leaf modules below.

The roots hold what Terraform cannot share between roots (state location, provider,
the organisation's inputs, settings.json) and are otherwise identical; everything an
environment contains is declared once, in terraform/stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest

from terraform.tools import tfdoc
from tests.terraform._terraform import (
    ENVIRONMENTS,
    ENVIRONMENTS_DIR,
    FIXTURES,
    STACK,
    STACK_DIR,
    Graph,
    address,
    load_settings,
    parse_graph,
    plan_variables,
)

pytestmark = pytest.mark.terraform

ROOT_FILES = frozenset(
    {
        "backend.tf",
        "main.tf",
        "moved.tf",
        "outputs.tf",
        "providers.tf",
        "settings.json",
        "settings.tf",
        "variables.tf",
        "versions.tf",
    }
)
PER_ENVIRONMENT = frozenset({"backend.tf", "settings.json"})
# What a root may declare; resources and data sources belong to the stack.
ROOT_BLOCK_KINDS = frozenset(
    {"locals", "module", "moved", "output", "provider", "terraform", "variable"}
)


_ORGANISATION_INPUTS = {
    "alert_notification_email": "oncall@example.com",
    "billing_account": "012345-6789AB-CDEF01",
}


def _plan_stack_inputs(settings: dict[str, Any], workdir: Path) -> str:
    """Terraform core's verdict on settings as the stack's input; its errors, or ''."""
    run = plan_variables(STACK_DIR, {**_ORGANISATION_INPUTS, "settings": settings}, workdir)
    return "" if run.returncode == 0 else " ".join(run.stderr.split())


def _root_files(env: str) -> set[str]:
    root = ENVIRONMENTS_DIR / env
    return {path.name for path in [*root.glob("*.tf"), *root.glob("*.json")]}


def _declared(root: Path) -> dict[str, list[Any]]:
    kinds: dict[str, list[Any]] = {}
    for path in sorted(root.glob("*.tf")):
        for kind, found in hcl2.loads(path.read_text()).items():
            if not kind.startswith("__"):
                kinds.setdefault(kind, []).extend(found)
    return kinds


def _reference(value: str) -> str:
    return value.removeprefix("${").removesuffix("}")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_root_holds_only_what_cannot_be_shared(env: str) -> None:
    assert _root_files(env) == ROOT_FILES
    declared = _declared(ENVIRONMENTS_DIR / env)
    assert set(declared) <= ROOT_BLOCK_KINDS, "resources and data sources belong in terraform/stack"
    (call,) = declared["module"]
    assert set(call) == {'"stack"'}
    assert call['"stack"']["source"] == '"../../stack"'


def test_roots_share_one_copy_of_everything_but_settings_and_backend() -> None:
    """What every root needs but cannot inherit (provider, inputs, outputs, moved blocks, the
    stack call) exists once, in environments/_shared, linked into each root: a change to it is
    made once, and no root can drift."""
    shared = ENVIRONMENTS_DIR / "_shared"
    assert {p.name for p in shared.iterdir()} == ROOT_FILES - PER_ENVIRONMENT
    for env in ENVIRONMENTS:
        for name in sorted(ROOT_FILES - PER_ENVIRONMENT):
            path = ENVIRONMENTS_DIR / env / name
            assert path.is_symlink(), f"{path} must link to ../_shared/{name}"
            assert path.readlink() == Path("..", "_shared", name)
            assert path.resolve() == (shared / name).resolve()
        for name in PER_ENVIRONMENT:
            assert not (ENVIRONMENTS_DIR / env / name).is_symlink()
    prefixes = {
        env: hcl2.loads((ENVIRONMENTS_DIR / env / "backend.tf").read_text())["terraform"][0][
            "backend"
        ][0]['"gcs"']["prefix"]
        for env in ENVIRONMENTS
    }
    assert prefixes == {env: f'"environments/{env}"' for env in ENVIRONMENTS}


def test_root_passes_its_inputs_in_and_the_stack_outputs_out_unchanged() -> None:
    root = ENVIRONMENTS_DIR / "prod"
    call = tfdoc.blocks(root, "module")["stack"]
    stack_inputs = {variable.name for variable in tfdoc.variables(STACK_DIR)}
    arguments = {k: _reference(v) for k, v in call.items() if k not in {"source", "__is_block__"}}
    assert set(arguments) == stack_inputs
    for variable in tfdoc.variables(root):
        assert arguments[variable.name] == f"var.{variable.name}"
    outputs = tfdoc.blocks(root, "output")
    assert set(outputs) == set(tfdoc.outputs(STACK_DIR))
    for name, body in outputs.items():
        assert _reference(body["value"]) == f"{STACK}.{name}"
        assert body["description"] == tfdoc.blocks(STACK_DIR, "output")[name]["description"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_object_lives_in_the_stack(graphs: dict[str, Graph], env: str) -> None:
    """The root declares nothing itself: every resource and data source is the stack's."""
    graph = graphs[env]
    outside = [
        address(block)
        for block in [*graph.blocks("resource"), *graph.blocks("data")]
        if not address(block).startswith(f"{STACK}.")
    ]
    assert outside == []
    assert [address(block) for block in graph.blocks("data")] == [
        f"{STACK}.data.google_project.project"
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_stack_calls_each_leaf_module_with_evaluated_inputs(
    graphs: dict[str, Graph], env: str
) -> None:
    settings = load_settings(env)
    calls = graphs[env].module_calls()
    sources = {path: call["source"] for path, call in calls.items()}
    monitoring = f"{STACK}.module.monitoring[0]"
    kms = f"{STACK}.module.kms[0]"
    cmek = settings["compliance"]["cmek"]
    assert sources == {
        STACK: "../../stack",
        f"{STACK}.module.api_gateway": "../modules/cloud-run-service",
        f"{STACK}.module.artifact_registry": "../modules/artifact-registry",
        f"{STACK}.module.audit_logs": "../modules/audit-logs",
        f"{STACK}.module.budget": "../modules/budget",
        f"{STACK}.module.firestore": "../modules/firestore",
        f"{STACK}.module.github_oidc": "../modules/github-oidc",
        f"{STACK}.module.iam": "../modules/iam",
        f"{STACK}.module.ml_service": "../modules/cloud-run-service",
        f"{STACK}.module.observability": "../modules/observability",
        f"{STACK}.module.pubsub": "../modules/pubsub",
        f"{STACK}.module.secrets": "../modules/secrets",
    } | ({monitoring: "../modules/monitoring"} if settings["monitoring_enabled"] else {}) | (
        {kms: "../modules/kms"} if cmek else {}
    )
    audit = calls[f"{STACK}.module.audit_logs"]
    compliance = settings["compliance"]
    assert audit["retention_days"] == compliance["audit_logs"]["retention_days"]
    assert audit["locked"] is compliance["audit_logs"]["locked"]
    assert bool(audit["data_access_services"]) is compliance["audit_logs"]["data_access"]
    if cmek:
        assert calls[kms]["key_ring"] == f"clarity-{settings['environment']}"
        assert calls[kms]["location"] == settings["region"]
        assert set(calls[kms]["keys"]) == {
            "artifact-registry",
            "firestore",
            "pubsub",
            "secret-manager",
        }
    # Inputs arrive evaluated through both levels: settings.json -> stack -> leaf module.
    for key, service in settings["services"].items():
        call = calls[f"{STACK}.module.{key.replace('-', '_')}"]
        assert call["name"] == service["name"]
        assert call["scaling"] == {
            "concurrency": service["concurrency"],
            "max_instances": service["max_instances"],
            "min_instances": service["min_instances"],
        }
    assert calls[f"{STACK}.module.budget"]["thresholds"] == settings["budget"]["thresholds"]
    # tfparse leaves the container's nested `dynamic "env"` blocks unexpanded, so the
    # environment variables are read from the call's evaluated input instead.
    common = {
        "ENVIRONMENT": settings["environment"],
        "GOOGLE_CLOUD_PROJECT": settings["project_id"],
    }
    ml_container = calls[f"{STACK}.module.ml_service"]["container"]
    assert ml_container["env"] == common
    assert ml_container["secret_env"] == {"GEMINI_API_KEY": {"secret": "gemini-api-key"}}
    gateway_env = calls[f"{STACK}.module.api_gateway"]["container"]["env"]
    assert gateway_env == common | {"ML_SERVICE_URL": None}  # the URL is known after apply


# Conditions over values known only after apply: the project number (the uptime-check
# agent among the invokers, the service agents granted each key) and the ML service's
# URL (the push endpoint).
_UNKNOWN_UNTIL_APPLY = {
    (f"{STACK}.module.api_gateway.variable.invokers", "invokers names allUsers"),
    (f"{STACK}.module.ml_service.variable.invokers", "invokers names allUsers"),
    (f"{STACK}.module.pubsub.variable.topics", "A push_endpoint must be an https:// URL."),
}
_UNKNOWN_WITH_CMEK = {
    (f"{STACK}.module.kms[0].variable.keys", "encrypters must be service accounts")
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_values_pass_every_validation_of_the_modules_below(
    graphs: dict[str, Graph], env: str
) -> None:
    """settings.json through the stack into each leaf module: no validation condition is false.

    test_validations.py shows each rule rejects a bad value; this shows the values each
    environment really passes satisfy them, as far as they are known before apply.
    """
    verdicts = graphs[env].validations()
    assert [v for v in verdicts if v.condition is False] == []
    expected = _UNKNOWN_UNTIL_APPLY | (
        _UNKNOWN_WITH_CMEK if load_settings(env)["compliance"]["cmek"] else set()
    )
    unknown = {
        (v.variable, next(m for _, m in expected if v.message.startswith(m)))
        for v in verdicts
        if v.condition is None
    }
    assert unknown == expected
    assert sum(v.condition is True for v in verdicts) >= 60


def test_a_false_validation_condition_is_reported() -> None:
    graph = parse_graph(FIXTURES / "policies" / "primitive-role", tfvars=None)
    failed = {(v.variable, v.message[:15]) for v in graph.validations() if v.condition is False}
    assert failed == {
        ("module.iam.variable.service_accounts", "Primitive roles"),
        ("module.wrapper.module.iam.variable.service_accounts", "Primitive roles"),
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_settings_json_fits_the_stacks_settings_type(env: str, tmp_path: Path) -> None:
    """The whole file, keys only the delivery library reads included, converts and validates."""
    assert _plan_stack_inputs(load_settings(env), tmp_path) == ""


def test_a_settings_json_without_a_key_terraform_reads_is_refused(tmp_path: Path) -> None:
    settings = load_settings("staging")
    del settings["budget"]
    errors = _plan_stack_inputs(settings, tmp_path)
    assert 'attribute "budget" is required' in errors


def test_a_settings_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    settings = load_settings("staging")
    settings["services"]["ml-service"]["min_instances"] = "one"
    errors = _plan_stack_inputs(settings, tmp_path)
    assert "a number is required" in errors


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_promotion_targets_deployer_reads_the_source_environment(
    graphs: dict[str, Graph], env: str
) -> None:
    """Staging lists prod's project: prod's deployer reads staging's services (the release
    records) and repository (to copy by digest), and nothing else is granted across projects."""
    settings = load_settings(env)
    targets = settings.get("promotion_targets", [])
    expected = {
        f"serviceAccount:clarity-deployer@{project}.iam.gserviceaccount.com" for project in targets
    }
    assert (env == "staging") == bool(targets)
    if targets:
        prod = load_settings("prod")["project_id"]
        assert targets == [prod]
    graph = graphs[env]
    own = f"@{settings['project_id']}.iam.gserviceaccount.com"
    project_readers = {
        member
        for block in graph.resources("google_project_iam_member")
        if block["role"] == "roles/run.viewer"
        and isinstance(member := block["member"], str)
        and not member.endswith(own)
    }
    assert project_readers == expected
    repository_readers = {
        block["member"]
        for block in graph.resources("google_artifact_registry_repository_iam_member")
        if block["role"] == "roles/artifactregistry.reader"
    }
    assert repository_readers == expected
