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
    WORKFLOWS,
    Step,
    dagger_steps,
    load_yaml,
    triggers,
    workflow_files,
)

pytestmark = pytest.mark.workflows

RUNNER_HOST = "${{ github.event_name != 'pull_request' && vars.DAGGER_RUNNER_HOST || '' }}"
RUNS_ON = "${{ github.event_name != 'pull_request' && vars.DAGGER_RUNS_ON || 'ubuntu-24.04' }}"
CLOUD_TOKEN = "${{ secrets.DAGGER_CLOUD_TOKEN }}"
HOSTED = "ubuntu-24.04"
DAGGER_STEPS = dagger_steps()
STEP_IDS = [f"{s.workflow}:{s.job}:{s.index}" for s in DAGGER_STEPS]

_GUARDED = re.compile(
    r"^\$\{\{ github\.event_name != '(?P<event>[\w-]+)' && vars\.(?P<variable>\w+)"
    r" \|\| '(?P<default>[^']*)' \}\}$"
)


def evaluate(expression: str, event: str, variables: dict[str, str]) -> str:
    """GitHub's value of `event != E && vars.V || 'D'`: && and || return an operand, '' and
    false are falsy, and an unset variable reads as ''."""
    match = _GUARDED.match(expression)
    assert match is not None, f"not the guarded form: {expression}"
    left: bool | str = event != match["event"] and variables.get(match["variable"], "")
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


@pytest.mark.parametrize(
    ("event", "variables", "runner_host", "runs_on"),
    [
        # Nothing set: GitHub-hosted runners, each starting its own engine.
        ("push", {}, "", HOSTED),
        ("schedule", {}, "", HOSTED),
        # Set: runs of protected refs use the shared engine from its runner pool.
        (
            "push",
            {"DAGGER_RUNNER_HOST": "unix:///run/dagger/engine.sock", "DAGGER_RUNS_ON": "dagger"},
            "unix:///run/dagger/engine.sock",
            "dagger",
        ),
        (
            "workflow_dispatch",
            {"DAGGER_RUNNER_HOST": "tcp://dagger-engine:1234", "DAGGER_RUNS_ON": "dagger"},
            "tcp://dagger-engine:1234",
            "dagger",
        ),
        # Pull requests never: code under review would write to the cache volumes deploys read.
        (
            "pull_request",
            {"DAGGER_RUNNER_HOST": "unix:///run/dagger/engine.sock", "DAGGER_RUNS_ON": "dagger"},
            "",
            HOSTED,
        ),
    ],
)
def test_what_each_run_connects_to(
    event: str, variables: dict[str, str], runner_host: str, runs_on: str
) -> None:
    assert evaluate(RUNNER_HOST, event, variables) == runner_host
    assert evaluate(RUNS_ON, event, variables) == runs_on


def test_every_workflow_with_pull_requests_keeps_them_off_the_shared_engine() -> None:
    for path in workflow_files():
        workflow = load_yaml(path)
        if "pull_request" in triggers(workflow) and any(
            s.workflow == path.name for s in DAGGER_STEPS
        ):
            assert (
                evaluate(
                    workflow["env"]["_EXPERIMENTAL_DAGGER_RUNNER_HOST"],
                    "pull_request",
                    {"DAGGER_RUNNER_HOST": "tcp://shared:1234"},
                )
                == ""
            ), path.name
