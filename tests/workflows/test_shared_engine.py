"""The optional shared Dagger engine: every Dagger step is wired to it, and unset means the
runner's own engine.

Two repository variables and one secret (README: CI/CD on GitHub Actions, "A shared engine"):
DAGGER_RUNNER_HOST reaches each Dagger step as `_EXPERIMENTAL_DAGGER_RUNNER_HOST`,
DAGGER_RUNS_ON picks the runners of the jobs that run Dagger, and DAGGER_CLOUD_TOKEN is the
action's `cloud-token` input (the action sets DAGGER_CLOUD_TOKEN from that input on the
command line itself, so an env value would be overwritten). When a variable is unset GitHub
gives '' and the expressions fall back: an empty runner host is what the Dagger CLI treats as
unset (cmd/dagger/engine.go, `if RunnerHost == "" { RunnerHost = defaultRunnerHost() }`, v0.21),
so it starts its own engine on the runner, as without the variable.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.workflows._support import (
    ROOT,
    WORKFLOWS,
    Step,
    dagger_steps,
    load_yaml,
    triggers,
    workflow_files,
)

pytestmark = pytest.mark.workflows

RUNNER_HOST = "${{ github.ref_protected && vars.DAGGER_RUNNER_HOST || '' }}"
RUNS_ON = "${{ github.ref_protected && vars.DAGGER_RUNS_ON || 'ubuntu-24.04' }}"
CLOUD_TOKEN = "${{ secrets.DAGGER_CLOUD_TOKEN }}"
HOSTED = "ubuntu-24.04"
DAGGER_STEPS = dagger_steps()
STEP_IDS = [f"{s.workflow}:{s.job}:{s.index}" for s in DAGGER_STEPS]

_GUARDED = re.compile(
    r"^\$\{\{ github\.ref_protected && vars\.(?P<variable>\w+) \|\| '(?P<default>[^']*)' \}\}$"
)


def evaluate(expression: str, protected: bool, variables: dict[str, str]) -> str:
    """GitHub's value of `github.ref_protected && vars.V || 'D'`: && and || return an operand,
    '' and false are falsy, and an unset variable reads as ''."""
    match = _GUARDED.match(expression)
    assert match is not None, f"not the guarded form: {expression}"
    left: bool | str = protected and variables.get(match["variable"], "")
    return left if isinstance(left, str) and left else match["default"]


def _workflow(step: Step) -> dict[str, Any]:
    return load_yaml(WORKFLOWS / step.workflow)


@pytest.mark.parametrize("step", DAGGER_STEPS, ids=STEP_IDS)
def test_every_dagger_step_gets_the_runner_host_and_the_cloud_token(step: Step) -> None:
    workflow = _workflow(step)
    job = workflow["jobs"][step.job]
    # Set once per workflow, and overridden nowhere below it.
    assert workflow["env"]["_EXPERIMENTAL_DAGGER_RUNNER_HOST"] == RUNNER_HOST, step.where
    for scope in (job.get("env", {}), step.body.get("env", {})):
        assert "_EXPERIMENTAL_DAGGER_RUNNER_HOST" not in scope, step.where
        assert "DAGGER_CLOUD_TOKEN" not in scope, f"{step.where}: use the cloud-token input"
    assert step.body["with"]["cloud-token"] == CLOUD_TOKEN, step.where
    assert job["runs-on"] == RUNS_ON, f"{step.where}: the engine's runner pool, if any"


def test_jobs_without_dagger_stay_on_github_hosted_runners() -> None:
    with_dagger = {(s.workflow, s.job) for s in DAGGER_STEPS}
    seen = 0
    for path in workflow_files():
        for job_id, job in load_yaml(path)["jobs"].items():
            if "steps" in job and (path.name, job_id) not in with_dagger:
                seen += 1
                assert job["runs-on"] == HOSTED, f"{path.name} {job_id}"
    assert seen >= 2  # codeql, vulnerability-issue


def test_the_called_ci_workflow_receives_the_token_by_name() -> None:
    """cd.yml calls ci.yml: it passes the one secret explicitly, never `secrets: inherit`."""
    cd_ci = load_yaml(WORKFLOWS / "cd.yml")["jobs"]["ci"]
    assert cd_ci["secrets"] == {"DAGGER_CLOUD_TOKEN": CLOUD_TOKEN}
    declared = triggers(load_yaml(WORKFLOWS / "ci.yml"))["workflow_call"]["secrets"]
    assert declared["DAGGER_CLOUD_TOKEN"]["required"] is False


SHARED = {"DAGGER_RUNNER_HOST": "unix:///run/dagger/engine.sock", "DAGGER_RUNS_ON": "dagger"}


@pytest.mark.parametrize(
    ("protected", "variables", "runner_host", "runs_on"),
    [
        # Nothing set: GitHub-hosted runners, each starting its own engine.
        (True, {}, "", HOSTED),
        (False, {}, "", HOSTED),
        # Set: runs of protected refs (main, develop, release/*, v* tags) use the shared engine
        # from its runner pool.
        (True, SHARED, "unix:///run/dagger/engine.sock", "dagger"),
        # Anything else never does: pull requests (refs/pull/N/merge is never protected) and
        # runs dispatched on an unprotected branch run code no review has passed, which would
        # write to the cache volumes deploys read.
        (False, SHARED, "", HOSTED),
    ],
)
def test_what_each_run_connects_to(
    protected: bool, variables: dict[str, str], runner_host: str, runs_on: str
) -> None:
    assert evaluate(RUNNER_HOST, protected, variables) == runner_host
    assert evaluate(RUNS_ON, protected, variables) == runs_on


def test_the_guard_is_the_refs_the_rulesets_protect() -> None:
    """github.ref_protected is true for refs a ruleset covers: terraform/github's protect every
    ref a Dagger job runs for outside pull requests (cd.yml's triggers, main for the schedule)."""
    rulesets = (ROOT / "terraform" / "github" / "rulesets.tf").read_text()
    for pattern in (
        "refs/heads/main",
        "refs/heads/develop",
        "refs/heads/release/**/*",
        "refs/tags/v*",
    ):
        assert f'"{pattern}"' in rulesets, pattern
    push = triggers(load_yaml(WORKFLOWS / "cd.yml"))["push"]
    assert push["branches"] == ["develop", "main", "release/**"]
