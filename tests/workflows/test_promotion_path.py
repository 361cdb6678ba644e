"""cd.yml's build-once-promote path against the module's registration: dev and staging sign
what they publish keyless (the job's own OIDC request, never a long-lived key), prod promotes
in one call and expects exactly the identity that signs staging's images."""

from __future__ import annotations

from typing import Any

import pytest
from clarity._provenance import (
    GITHUB_REQUEST_TOKEN,
    GITHUB_REQUEST_URL,
    PROMOTED_FROM,
    SIGNING_REFS,
    SIGNING_WORKFLOW,
    expected_signer,
)

from tests.workflows._support import (
    DAGGER_ACTION,
    WORKFLOWS,
    cli_name,
    load_module_functions,
    load_yaml,
    parse_call,
)

pytestmark = pytest.mark.workflows

CD = load_yaml(WORKFLOWS / "cd.yml")
BOOLEAN_FLAGS = {"--approve", "--dry-run"}


def _dagger_steps(job_id: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = CD["jobs"][job_id]["steps"]
    return [s for s in steps if str(s.get("uses", "")).startswith(f"{DAGGER_ACTION}@")]


@pytest.fixture(scope="module")
def deploy_flags() -> set[str]:
    deploy = load_module_functions()["deploy"]
    return {f"--{cli_name(p.name)}" for p in deploy.parameters.values()}


@pytest.mark.parametrize("env", sorted(SIGNING_REFS))
def test_built_environments_sign_keyless_with_the_jobs_oidc_request(
    env: str, deploy_flags: set[str]
) -> None:
    job = CD["jobs"][f"deploy-{env}"]
    assert job["permissions"]["id-token"] == "write", "GitHub issues the OIDC token only then"
    (step,) = _dagger_steps(f"deploy-{env}")
    call = parse_call(step["with"]["call"], BOOLEAN_FLAGS)
    assert call.function == "deploy"
    assert call.arguments["--env"] == env
    signing = {
        "--oidc-request-token": f"env://{GITHUB_REQUEST_TOKEN}",
        "--oidc-request-url": f"env://{GITHUB_REQUEST_URL}",
    }
    assert signing.keys() <= deploy_flags, "the module registers the signing arguments"
    assert {flag: call.arguments.get(flag) for flag in signing} == signing
    assert "--key" not in call.arguments, "no long-lived signing key in CI"


@pytest.mark.parametrize("env", sorted(SIGNING_REFS))
def test_the_expected_signing_ref_is_the_ref_that_deploys_the_environment(env: str) -> None:
    """The certificate names cd.yml at the ref that ran it: the one deploy-<env> runs for."""
    assert CD["jobs"][f"deploy-{env}"]["if"] == f"${{{{ github.ref == '{SIGNING_REFS[env]}' }}}}"
    assert (WORKFLOWS / "cd.yml").relative_to(WORKFLOWS.parents[1]).as_posix() == SIGNING_WORKFLOW


def test_prod_promotes_in_one_call_verifying_this_repositorys_staging_signatures(
    deploy_flags: set[str],
) -> None:
    job = CD["jobs"]["deploy-prod"]
    assert job["environment"]["name"] == "prod", "the environment's reviewers approve the job"
    (step,) = _dagger_steps("deploy-prod")
    call = parse_call(step["with"]["call"], BOOLEAN_FLAGS)
    assert (call.function, call.arguments["--env"]) == ("deploy", "prod")
    assert PROMOTED_FROM["prod"] == "staging", "prod's deploy is staging's digests, promoted"
    assert set(call.arguments) <= deploy_flags
    assert "--approve" in call.arguments
    assert call.arguments["--signer-repository"] == "$SIGNER_REPOSITORY"
    assert '--signer-repository "$SIGNER_REPOSITORY"' in step["with"]["call"]
    assert step["env"]["SIGNER_REPOSITORY"] == "${{ github.repository }}"
    assert not {"--key", "--oidc-request-token", "--public-key"} & set(call.arguments), (
        "prod signs nothing and trusts no key: only the keyless identity of staging's deploy"
    )
    # What that call verifies: cd.yml on the ref that deploys staging, in this repository.
    signer = expected_signer("staging", repository="owner/name", public_key=False)
    assert signer.certificate_identity == (
        f"https://github.com/owner/name/{SIGNING_WORKFLOW}@{SIGNING_REFS['staging']}"
    )
    # The release's commit and version are those staging's record must show.
    assert call.arguments["--commit"] == "${{ github.sha }}"
    assert call.arguments["--version"] == "${{ steps.release.outputs.version }}"


def test_prods_summary_is_the_promotion_and_rollout_the_call_returns() -> None:
    """The call's result (the promotion's digests and staging record, then the rollout) is
    what the job summary shows, also when the call fails part-way."""
    (step,) = _dagger_steps("deploy-prod")
    call = parse_call(step["with"]["call"], BOOLEAN_FLAGS)
    steps = CD["jobs"]["deploy-prod"]["steps"]
    summary = next(s for s in steps if s.get("name") == "Rollout summary")
    assert steps.index(summary) == steps.index(step) + 1
    assert summary["env"]["SUMMARY_FILE"] == call.cli["-o"]
    assert summary["if"] == "${{ !cancelled() }}"
