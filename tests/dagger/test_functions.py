"""Every public function of the module, called as ``dagger call`` would, against the engine
double: the real SDK runtime, the real module code, each recipe executed on the model
(image manifests, container state, tool contracts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clarity._e2e import E2E_SUITE
from clarity._settings import SERVICES
from clarity.main import Clarity, Environment
from dagger.mod import default_module

from tests.dagger.conftest import ALERT_EMAIL, BILLING_ACCOUNT, ROOT, publish_and_sign
from tests.doubles.dagger_engine import CallResult, DaggerCall, EngineDouble, SecretArg

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

Check = Callable[[CallResult, EngineDouble], None]
GATEWAY = "https://candidate---clarity-api-gateway-abc123-ew.a.run.app"


def _gates_passed(result: CallResult, _: EngineDouble) -> None:
    assert str(result.value).startswith("Gate summary — PASSED"), result.value


def _files(*names: str) -> Check:
    def check(result: CallResult, _: EngineDouble) -> None:
        assert set(names) <= set(result.tree()), sorted(result.tree())

    return check


def _sarif_without_results(result: CallResult, engine: EngineDouble) -> None:
    tree = result.tree()
    sarif = [name for name in tree if name.endswith(".sarif")]
    assert sorted(sarif) == ["bandit.sarif", "checkov.sarif", "hadolint.sarif", "zizmor.sarif"]
    for name in sarif:
        log = json.loads(tree[name].content)  # type: ignore[union-attr]
        assert log["runs"][0]["results"] == [], name
    assert "summary.txt" in tree
    assert "pip-audit.json" in tree
    _files("detect-secrets.txt", "shellcheck.txt", "actionlint.txt")(result, engine)


def _images(result: CallResult, _: EngineDouble) -> None:
    assert [ident.split(":")[0] for ident in result.value] == ["Container", "Container"]


def _sboms(result: CallResult, _: EngineDouble) -> None:
    tree = result.tree()
    assert sorted(tree) == [f"{service}.cdx.json" for service in SERVICES]
    for entry in tree.values():
        assert json.loads(entry.content)["bomFormat"] == "CycloneDX"  # type: ignore[union-attr]


def _published(result: CallResult, engine: EngineDouble) -> None:
    assert len(result.value) == len(SERVICES)
    for service, reference in zip(SERVICES, result.value, strict=True):
        name, _, digest = reference.partition("@")
        assert name.endswith(f"/{service}")
        assert engine.world.registry[f"{name}:1.4.0"] == digest


def _signed(result: CallResult, engine: EngineDouble) -> None:
    kinds = sorted(kind for kind, _ in engine.world.signatures)
    assert kinds == ["attest", "attest", "sign", "sign"]
    assert str(result.value).count("signed and attested") == len(SERVICES)


def _planned(result: CallResult, _: EngineDouble) -> None:
    tree = result.tree()
    assert sorted(tree) == [".terraform.lock.hcl", "tfplan", "tfplan.txt"]
    assert b'version = "6.50.0"' in tree[".terraform.lock.hcl"].content  # type: ignore[union-attr]


def _applied(result: CallResult, engine: EngineDouble) -> None:
    assert "Apply complete" in str(result.value)
    (state,) = engine.world.states.values()
    assert state.applies == 1


def _rolled_out(command: str) -> Check:
    def check(result: CallResult, engine: EngineDouble) -> None:
        assert [r.command for r in engine.world.rollouts] == [command]
        assert result.value

    return check


def _deployed(result: CallResult, engine: EngineDouble) -> None:
    assert "clarity-deploy deploy --env dev" in str(result.value)
    (rollout,) = engine.world.rollouts
    images = [rollout.argv[i + 1] for i, a in enumerate(rollout.argv) if a == "--image"]
    pushed = {
        f"{address.rsplit(':', 1)[0]}@{digest}" for address, digest in engine.world.registry.items()
    }
    assert {image.split("=", 1)[1] for image in images} == pushed
    assert [state.applies for state in engine.world.states.values()] == [1]


def _dast_passed(result: CallResult, engine: EngineDouble) -> None:
    summary = str(result.value)
    assert summary.startswith("Gate summary — PASSED"), summary
    assert all(f"dast / {service}" in summary for service in SERVICES), summary
    targets = [execution.argv[4] for execution in engine.world.ran("schemathesis")]
    assert targets == [f"http://{service}:8080/openapi.json" for service in SERVICES]


def _journey_passed(result: CallResult, engine: EngineDouble) -> None:
    summary = str(result.value)
    assert summary.startswith("Gate summary — PASSED"), summary
    assert f"e2e / staging {GATEWAY}" in summary, summary
    (run,) = engine.world.ran("pytest")
    assert run.argv[:2] == ("pytest", E2E_SUITE)
    assert run.argv[run.argv.index("--e2e-base-url") + 1] == GATEWAY
    assert "PASSED tests/e2e/test_journey.py::" in summary, "the suite's tests ran"


def _released(result: CallResult, engine: EngineDouble) -> None:
    assert "dry run" in str(result.value)
    assert engine.world.ran("apt-get"), "git is installed for release management"


def _arguments(name: str, credentials: SecretArg, tmp_path: Path) -> dict[str, Any]:
    dev = Environment.dev
    terraform = {"credentials": credentials, "billing_account": BILLING_ACCOUNT}
    return {
        "publish": {"env": dev, "credentials": credentials, "version": "1.4.0"},
        "plan": {"env": dev, **terraform},
        "apply": {"env": dev, **terraform},
        "deploy": {"env": dev, "commit": "0123abc", "version": "1.4.0", **terraform},
        "rollback": {"env": Environment.prod, "to": "previous", "credentials": credentials},
        "health": {"env": Environment.staging, "credentials": credentials},
        "release": {"repository": _work_tree(tmp_path), "dry_run": True},
        "e2e": {
            "env": Environment.staging,
            "url": GATEWAY,
            "token": SecretArg("id-token-of-the-ci-identity", name="token"),
        },
    }.get(name, {})


def _work_tree(tmp_path: Path) -> Path:
    """The project files and a .git directory: a work tree as the model sees one.

    Built without git, which the pipeline's test container does not have (release
    management against real repositories is tested in tests/workflows/test_release.py).
    """
    tree = tmp_path / "release"
    (tree / ".git" / "refs" / "heads").mkdir(parents=True)
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    for name in ("pyproject.toml", "uv.lock", "README.md", "CHANGELOG.md"):
        (tree / name).write_bytes((ROOT / name).read_bytes())
    return tree


CHECKS: dict[str, Check] = {
    "lint": _gates_passed,
    "typecheck": _gates_passed,
    "test": _gates_passed,
    "security": _gates_passed,
    "ci": _gates_passed,
    "dast": _dast_passed,
    "e2e": _journey_passed,
    "test_report": _files("junit.xml", "coverage.xml"),
    "security_report": _sarif_without_results,
    "build": _images,
    "scan": _gates_passed,
    "scan_report": _files(*(f"{s}.sarif" for s in SERVICES), "summary.txt"),
    "sbom": _sboms,
    "publish": _published,
    "sign": _signed,
    "plan": _planned,
    "apply": _applied,
    "deploy": _deployed,
    "rollback": _rolled_out("rollback"),
    "health": _rolled_out("health-check"),
    "release": _released,
}


def test_every_registered_function_is_run_against_the_double() -> None:
    functions = default_module().get_object(Clarity.__name__).functions
    assert sorted(CHECKS) == sorted(name for name in functions if name)


@pytest.mark.parametrize("name", sorted(set(CHECKS) - {"sign"}))
def test_function_runs_its_recipe_against_the_model(
    name: str,
    dagger_call: DaggerCall,
    engine: EngineDouble,
    credentials: SecretArg,
    tmp_path: Path,
) -> None:
    result = dagger_call(name, **_arguments(name, credentials, tmp_path))
    assert result.ok, result.text()
    CHECKS[name](result, engine)


def test_sign_signs_and_attests_what_publish_pushed(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    published, result = publish_and_sign(dagger_call, credentials)
    assert result.ok, result.text()
    CHECKS["sign"](result, engine)
    assert {ref for _, ref in engine.world.signatures} == set(published.value)


def test_the_scan_fails_on_fixable_findings_and_the_report_still_arrives(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    built = dagger_call("build")
    # The scanned tarball names the image by its build recipe: mark one image vulnerable.
    image = built.value[0].split(":", 1)[1]
    engine.world.findings[image] = 3
    scanned = dagger_call("scan")
    assert not scanned.ok
    assert "scan / api-gateway" in str(scanned.error)
    assert "FAILED (1 failing)" in str(scanned.error)
    report = dagger_call("scan_report")
    assert report.ok, report.text()
    log = json.loads(report.tree()["api-gateway.sarif"].content)  # type: ignore[union-attr]
    assert len(log["runs"][0]["results"]) == 3


def test_a_failed_rollout_is_reported_with_the_clis_message(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    engine.world.delivery_failures["health-check"] = (1, "api-gateway /health answered 503")
    result = dagger_call("health", env=Environment.staging, credentials=credentials)
    assert not result.ok
    assert "clarity-deploy health-check failed (exit 1)" in str(result.error)
    assert "api-gateway /health answered 503" in str(result.error)


def test_prod_deploys_only_with_approval_and_its_alert_address(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    prod: dict[str, Any] = {
        "env": Environment.prod,
        "credentials": credentials,
        "commit": "0123abc",
        "billing_account": BILLING_ACCOUNT,
        "alert_email": ALERT_EMAIL,
    }
    refused = dagger_call("deploy", **prod)
    assert not refused.ok
    assert "--approve" in str(refused.error)
    assert engine.world.executions == [], "refused before any container ran"
    approved = dagger_call("deploy", **prod, approve=True)
    assert approved.ok, approved.text()
    (rollout,) = engine.world.rollouts
    assert "--approve" in rollout.argv


def test_test_report_after_ci_reuses_ci_s_test_run(
    dagger_call: DaggerCall, engine: EngineDouble
) -> None:
    """ci.yml exports the reports after `ci` counting on the engine's cache: one pytest run."""
    assert dagger_call("ci").ok
    report = dagger_call("test_report")
    assert report.ok, report.text()
    assert {"junit.xml", "coverage.xml"} <= set(report.tree())
    assert len(engine.world.ran("pytest")) == 1
