"""Defects a source review found, each pinned by a test that failed before its fix.

Behaviour runs against the engine double (the real SDK runtime and module code, the
recipes executed on the model); the rest are contract tests on the files themselves.
The tests use only the module's registration and public functions, so the same tests run
against an older checkout of ci/src/clarity to show the failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clarity._gates import GATES
from clarity.main import Clarity, Environment
from dagger.mod import default_module

from tests.dagger.conftest import ALERT_EMAIL, BILLING_ACCOUNT, publish_and_sign
from tests.doubles.dagger_engine import DaggerCall, EngineDouble, ExportFailed, SecretArg
from tests.doubles.dagger_engine._fs import ignored, load_host_tree
from tests.doubles.dagger_engine._runtime import ModuleRuntime

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

LOCK = ".terraform.lock.hcl"


def _terraform(credentials: SecretArg, env: Environment = Environment.dev) -> dict[str, object]:
    inputs: dict[str, object] = {
        "env": env,
        "credentials": credentials,
        "billing_account": BILLING_ACCOUNT,
    }
    if env is not Environment.dev:
        inputs["alert_email"] = ALERT_EMAIL
    return inputs


# 1. `terraform plan -out=/out/tfplan` in an image without /out ----------------------------


def test_plan_writes_its_plan_file_where_terraform_can(
    dagger_call: DaggerCall, credentials: SecretArg
) -> None:
    result = dagger_call("plan", **_terraform(credentials))
    assert result.ok, result.text()
    assert "Failed to write plan file" not in result.text()
    assert {"tfplan", "tfplan.txt"} <= set(result.tree())


def test_deploy_plans_and_applies_after_publishing(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    result = dagger_call("deploy", commit="0123abc", version="1.4.0", **_terraform(credentials))
    assert result.ok, result.text()
    assert [s.applies for s in engine.world.states.values()] == [1]


def test_a_deploy_whose_plan_fails_pushes_nothing(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    engine.world.provider_releases["hashicorp/google"] = []  # init cannot resolve the provider
    result = dagger_call("deploy", commit="0123abc", version="1.4.0", **_terraform(credentials))
    assert not result.ok
    assert "Failed to query available provider packages" in result.text()
    assert engine.world.registry == {}, "nothing was published for a change that cannot apply"


# 2. trivy's --output directory -------------------------------------------------------------


def test_sbom_and_sign_have_a_directory_to_write_the_sbom_into(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    sbom = dagger_call("sbom")
    assert sbom.ok, sbom.text()
    _, signed = publish_and_sign(dagger_call, credentials)
    assert signed.ok, signed.text()
    assert len(engine.world.signatures) == 4


# 3. `dagger call ci` without a git checkout -------------------------------------------------


def test_ci_passes_in_a_container_without_git_or_a_checkout(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    result = dagger_call("ci")
    assert result.ok, result.text()
    (pytest_run,) = engine.world.ran("pytest")
    assert pytest_run.exit_code == 0
    # The workflow files are still checked in the pipeline, by the security gate.
    security = [s.name for s in GATES["security"].steps]
    assert {"zizmor", "actionlint"} <= set(security)
    assert engine.world.ran("zizmor")
    assert engine.world.ran("jactionlint")


# 4. concurrent trivy runs on one cache volume -----------------------------------------------


@pytest.mark.parametrize("function", ["scan", "scan_report"])
def test_concurrent_scans_wait_for_the_trivy_cache_instead_of_failing(
    function: str, dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    # Long enough that both images' scans certainly overlap if nothing serializes them.
    engine.world.run_seconds["trivy"] = 1.0
    result = dagger_call(function)
    assert result.ok, result.text()
    runs = engine.world.ran("trivy")
    assert len(runs) == 2
    assert all(run.exit_code == 0 for run in runs)


# 5. side effects served from the exec cache -------------------------------------------------


#: function -> the program and subcommand whose exec has the side effect
SIDE_EFFECTS = {
    "health": ("clarity-deploy", "health-check"),
    "rollback": ("clarity-deploy", "rollback"),
    "apply": ("terraform", "apply"),
}


@pytest.mark.parametrize("function", sorted(SIDE_EFFECTS))
def test_a_side_effect_runs_on_every_call_with_the_same_key(
    function: str, dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    program, command = SIDE_EFFECTS[function]
    arguments: dict[str, object] = {
        "health": {"env": Environment.staging, "credentials": credentials},
        "rollback": {"env": Environment.staging, "to": "previous", "credentials": credentials},
        "apply": _terraform(credentials),
    }[function]
    first = dagger_call(function, **arguments)
    second = dagger_call(function, **arguments)
    assert first.ok, first.text()
    assert second.ok, second.text()
    runs = [r for r in engine.world.ran(program) if command in r.argv]
    assert len(runs) == 2, [r.argv for r in engine.world.ran(program)]


def test_deploy_rolls_out_on_every_call(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    for _ in range(2):
        result = dagger_call("deploy", commit="0123abc", version="1.4.0", **_terraform(credentials))
        assert result.ok, result.text()
    assert [r.command for r in engine.world.rollouts] == ["deploy", "deploy"]
    assert [s.applies for s in engine.world.states.values()] == [2]


# 6. Terraform dependency locks ---------------------------------------------------------------


def test_plan_exports_the_lock_its_init_resolved(
    dagger_call: DaggerCall, credentials: SecretArg
) -> None:
    result = dagger_call("plan", **_terraform(credentials))
    assert result.ok, result.text()
    lock = result.tree()[LOCK].content  # type: ignore[union-attr]
    assert b'provider "registry.terraform.io/hashicorp/google"' in lock
    assert b'version = "6.50.0"' in lock


def _plan_argument(exported: Path) -> Path:
    """What the user passes to apply --plan: the export, or (before) its plan file."""
    apply = default_module().get_object(Clarity.__name__).functions["apply"]
    annotation = str(apply.parameters["plan"].resolved_type)
    return exported / "tfplan" if "File" in annotation else exported


def test_apply_uses_the_reviewed_lock_after_a_provider_release(
    dagger_call: DaggerCall,
    engine: EngineDouble,
    module_runtime: ModuleRuntime,
    credentials: SecretArg,
    tmp_path: Path,
) -> None:
    planned = dagger_call("plan", **_terraform(credentials, Environment.prod))
    assert planned.ok, planned.text()
    exported = planned.export(tmp_path / "plan")
    # Reviewed; a provider is released; the apply runs on another day's engine (no cache),
    # against the same registry and state bucket.
    engine.world.release_provider("hashicorp/google", "6.51.0")
    with EngineDouble(engine.world) as next_day:
        applied = DaggerCall(next_day, module_runtime)(
            "apply", plan=_plan_argument(exported), **_terraform(credentials, Environment.prod)
        )
    assert applied.ok, applied.text()
    assert "Inconsistent dependency lock file" not in applied.text()
    assert [s.applies for s in engine.world.states.values()] == [1]


def test_a_committed_lock_is_kept_read_only(
    engine: EngineDouble, credentials: SecretArg, repository: Path, module_runtime: ModuleRuntime
) -> None:
    committed = repository / "terraform/environments/dev" / LOCK
    committed.write_text(
        'provider "registry.terraform.io/hashicorp/random" {\n  version = "3.6.0"\n}\n'
    )
    result = DaggerCall(engine, module_runtime, root=repository)("plan", **_terraform(credentials))
    # plan returns its directory lazily: the init fails when the directory is exported.
    with pytest.raises(ExportFailed) as failed:
        result.tree()
    assert "Provider dependency changes detected" in failed.value.stderr
    assert "the lock file is read-only" in failed.value.stderr


# 7. security.yml: upload-sarif reads the workflow run ---------------------------------------
# (tests/workflows/test_workflow_contracts.py::test_sarif_uploads_may_read_the_workflow_run)

# 8. exported plans are neither uploaded nor scanned ------------------------------------------


def test_exported_plans_are_neither_uploaded_nor_scanned(
    engine: EngineDouble, repository: Path, module_runtime: ModuleRuntime
) -> None:
    plan = repository / "plan"
    plan.mkdir()
    (plan / "tfplan").write_bytes(b"state snapshot")
    (plan / "tfplan.txt").write_text("password = hunter2-but-longer-0123456789\n")
    uploaded = DaggerCall(engine, module_runtime, root=repository).source_tree()
    assert not [key for key in uploaded if key == "plan" or key.startswith("plan/")]
    assert "terraform/environments/dev/main.tf" in uploaded
    # The secret scan's file set leaves plan/ out on the host too (make security).
    (secrets,) = [s for s in GATES["security"].steps if s.name == "detect-secrets"]
    assert secrets.files is not None
    files = load_host_tree(repository)
    assert not [f for f in secrets.files.select(files) if f.startswith("plan/")]
    assert "terraform/environments/dev/main.tf" in secrets.files.select(files)
    # A file named plan elsewhere is not caught by the root-only pattern.
    constructor = default_module().get_object(Clarity.__name__).get_constructor()
    (source,) = constructor.parameters.values()
    assert not ignored("docs/plan/notes.md", source.ignore or [])
