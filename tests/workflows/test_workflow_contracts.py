"""What the workflows promise: real action inputs, real module functions, pins, permissions,
concurrency and the branch -> environment mapping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import dagger
import pytest
from clarity._settings import SERVICES

from tests.workflows._support import (
    DAGGER_ACTION,
    DATA,
    ROOT,
    WORKFLOWS,
    Step,
    cli_name,
    dagger_steps,
    engine_version,
    load_module_functions,
    load_yaml,
    parse_call,
    steps,
    triggers,
    workflow_files,
)

pytestmark = pytest.mark.workflows

ACTION = json.loads((DATA / "dagger-for-github.json").read_text(encoding="utf-8"))
ENVIRONMENTS = sorted(p.parent.name for p in ROOT.glob("terraform/environments/*/settings.json"))
AUTH_ACTION = "google-github-actions/auth@"
DAGGER_STEPS = dagger_steps()
STEP_IDS = [f"{s.workflow}:{s.job}:{s.index}" for s in DAGGER_STEPS]


def _jobs(name: str) -> dict[str, Any]:
    jobs = load_yaml(WORKFLOWS / name)["jobs"]
    assert isinstance(jobs, dict)
    return jobs


# ------------------------------------------------------------------- the Dagger action


def test_workflows_use_the_dagger_action() -> None:
    assert {s.workflow for s in DAGGER_STEPS} == {"ci.yml", "cd.yml", "security.yml"}


@pytest.mark.parametrize("step", DAGGER_STEPS, ids=STEP_IDS)
def test_dagger_steps_use_only_the_actions_real_inputs(step: Step) -> None:
    used = set(step.body.get("with", {}))
    unknown = used - set(ACTION["inputs"]) - set(ACTION["deprecated_inputs"])
    assert not unknown, f"{step.where}: {sorted(unknown)} are not inputs of {ACTION['source']}"
    deprecated = used & set(ACTION["deprecated_inputs"])
    assert not deprecated, f"{step.where}: {sorted(deprecated)} are deprecated"
    assert "call" in used, f"{step.where}: every Dagger step runs one `dagger call`"


@pytest.mark.parametrize("step", DAGGER_STEPS, ids=STEP_IDS)
def test_dagger_steps_pin_the_recorded_action_and_the_engine_version(step: Step) -> None:
    assert step.body["uses"] == f"{DAGGER_ACTION}@{ACTION['commit']}", (
        f"{step.where}: the pin differs from tests/workflows/data/dagger-for-github.json; "
        "update the recorded inputs together with the pin"
    )
    assert step.body["with"]["version"] == engine_version()


def test_every_action_is_pinned_by_commit_with_its_version_in_a_comment() -> None:
    uses_line = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
    pinned = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
    seen = 0
    for path in workflow_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = uses_line.match(line)
            if match is None or match["ref"].startswith(("$/", "./")):
                continue
            seen += 1
            where = f"{path.name}:{number}"
            assert pinned.match(match["ref"]), f"{where}: {match['ref']} is not pinned by SHA"
            assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", match["rest"]), (
                f"{where}: write the release as a '# vX.Y.Z' comment after the SHA"
            )
    assert seen >= 10


# ------------------------------------------------------------------- the module's functions


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    return load_module_functions()


def _boolean_flags(functions: dict[str, Any], function: str) -> set[str]:
    fn = functions.get(function)
    if fn is None:
        return set()
    return {f"--{cli_name(p.name)}" for p in fn.parameters.values() if p.resolved_type in (bool,)}


@pytest.mark.parametrize("step", DAGGER_STEPS, ids=STEP_IDS)
def test_each_call_names_a_function_the_module_exports(
    step: Step, functions: dict[str, Any]
) -> None:
    call_text = step.body["with"]["call"]
    name = call_text.split()[0]
    assert name in functions, (
        f"{step.where}: `dagger call {name}` but the module exports {sorted(functions)}"
    )
    call = parse_call(call_text, _boolean_flags(functions, name))
    fn = functions[call.function]
    parameters = {f"--{cli_name(p.name)}": p for p in fn.parameters.values()}
    unknown = set(call.arguments) - set(parameters)
    assert not unknown, f"{step.where}: {name} has no argument(s) {sorted(unknown)}"
    missing = {flag for flag, p in parameters.items() if not p.is_optional} - set(call.arguments)
    assert not missing, f"{step.where}: {name} needs {sorted(missing)}"
    for flag, value in call.arguments.items():
        if parameters[flag].resolved_type is dagger.Secret:
            assert value is not None
            assert value.startswith(("file://", "env://")), (
                f"{step.where}: {flag} must be a file:// or env:// secret reference"
            )
    if "--env" in call.arguments:
        assert call.arguments["--env"] in ENVIRONMENTS
    output = call.cli.get("-o", call.cli.get("--output"))
    if output is not None:
        assert fn.return_type in (dagger.Directory, dagger.File, str), (
            f"{step.where}: -o needs a Directory, File or str result, {name} returns "
            f"{fn.return_type}"
        )


def _exports(job: dict[str, Any]) -> dict[str, str]:
    """-o target -> function, for the Dagger steps of a job."""
    out: dict[str, str] = {}
    for body in job["steps"]:
        if str(body.get("uses", "")).startswith(f"{DAGGER_ACTION}@"):
            call = parse_call(body["with"]["call"], {"--approve", "--dry-run", "--json"})
            target = call.cli.get("-o") or call.cli.get("--output")
            if target is not None:
                out[target] = call.function
    return out


def test_directories_uploaded_as_artifacts_or_sarif_are_directories(
    functions: dict[str, Any],
) -> None:
    checked = 0
    for path in workflow_files():
        for job in load_yaml(path)["jobs"].values():
            exports = _exports(job) if "steps" in job else {}
            for body in job.get("steps", []):
                given = body.get("with", {})
                for uploaded in (given.get("path"), given.get("sarif_file")):
                    for target, function in exports.items():
                        if uploaded is None:
                            continue
                        if uploaded == target or target.startswith(f"{uploaded}/"):
                            what = "as a directory"
                        elif uploaded.startswith(f"{target}/"):
                            what = "from inside an exported directory"
                        else:
                            continue
                        checked += 1
                        assert functions[function].return_type is dagger.Directory, (
                            f"{path.name}: {uploaded} is uploaded {what} but "
                            f"{function} does not return a directory"
                        )
    # test reports; security SARIF, two image SARIF files, the security artifact (2 exports)
    assert checked >= 6


# ------------------------------------------------------------------- permissions


def test_workflows_grant_nothing_by_default_and_every_job_declares_its_permissions() -> None:
    for path in workflow_files():
        workflow = load_yaml(path)
        assert workflow.get("permissions") == {}, f"{path.name}: top-level permissions: {{}}"
        for job_id, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name} job {job_id} declares no permissions"
            assert job["permissions"].get("contents") == "read"


def test_id_token_write_only_where_workload_identity_federation_is_used() -> None:
    for path in workflow_files():
        for job_id, job in load_yaml(path)["jobs"].items():
            uses_wif = any(
                str(s.get("uses", "")).startswith(AUTH_ACTION) for s in job.get("steps", [])
            )
            granted = job["permissions"].get("id-token") == "write"
            assert granted == uses_wif, f"{path.name} job {job_id}: id-token vs auth step"
            writes = {k for k, v in job["permissions"].items() if v == "write"}
            # issues: only the job that keeps the vulnerability issue (test_security_issue.py).
            assert writes <= {"id-token", "security-events", "issues"}, f"{path.name} {job_id}"


def test_google_authentication_is_workload_identity_federation_only() -> None:
    auth_steps = [s for s in steps() if str(s.body.get("uses", "")).startswith(AUTH_ACTION)]
    # deploy dev, its integration tests, deploy staging, staging e2e (health, then the suite's ID
    # token), staging DAST, the suite against staging before prod, deploy prod
    assert len(auth_steps) == 8
    for step in auth_steps:
        given = step.body["with"]
        assert "credentials_json" not in given, f"{step.where}: never a JSON key"
        assert given["workload_identity_provider"] == "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}"
        # A credentials file for the module, or only a short-lived ID token (no file at all).
        if given.get("token_format") == "id_token":
            assert "create_credentials_file" not in given, step.where
            assert given["id_token_audience"], step.where
        else:
            assert given["create_credentials_file"] is True, step.where


def test_the_credentials_file_stays_outside_the_module_source() -> None:
    """auth writes gha-creds-*.json into $GITHUB_WORKSPACE; the module reads repo/ only."""
    for job_id, job in _jobs("cd.yml").items():
        if "steps" not in job:
            continue
        checkout = job["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@")
        assert checkout["with"] == {"path": "repo", "persist-credentials": False}, job_id
        for body in job["steps"]:
            if str(body.get("uses", "")).startswith(f"{DAGGER_ACTION}@"):
                assert body["with"]["workdir"] == "repo", job_id
                if body["with"]["call"].split()[0] in (
                    "dast",
                    "e2e",
                ):  # an ID token, no credentials
                    assert "--credentials" not in body["with"]["call"], job_id
                    continue
                assert (
                    "file://${{ steps.auth.outputs.credentials_file_path }}"
                    in (body["with"]["call"])
                )


# ------------------------------------------------------------------- concurrency


def test_superseded_ci_runs_are_cancelled() -> None:
    job = _jobs("ci.yml")["ci"]
    assert job["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number || github.ref" in job["concurrency"]["group"]


def test_one_deploy_per_environment_and_none_is_cancelled_in_progress() -> None:
    jobs = _jobs("cd.yml")
    deploys = {job_id: job for job_id, job in jobs.items() if job_id.startswith("deploy-")}
    assert sorted(deploys) == [f"deploy-{env}" for env in ENVIRONMENTS]
    for job_id, job in deploys.items():
        env = job_id.removeprefix("deploy-")
        assert job["environment"]["name"] == env
        assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
    workflow = load_yaml(WORKFLOWS / "cd.yml")
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert workflow["concurrency"]["group"] != _jobs("ci.yml")["ci"]["concurrency"]["group"]


# ------------------------------------------------------------------- branch -> environment

_TERM = re.compile(
    r"^(?:github\.ref == '(?P<equals>[^']+)'|startsWith\(github\.ref, '(?P<prefix>[^']+)'\))$"
)


def _runs_for(condition: str, ref: str) -> bool:
    """Evaluate the `if:` forms cd.yml uses: ref equality and startsWith, joined by ||."""
    inner = condition.strip().removeprefix("${{").removesuffix("}}").strip()
    results = []
    for term in inner.split("||"):
        match = _TERM.match(term.strip())
        assert match is not None, f"unexpected condition term {term!r}"
        if match["equals"] is not None:
            results.append(ref == match["equals"])
        else:
            results.append(ref.startswith(match["prefix"]))
    return any(results)


def _deployed_environments(ref: str) -> list[str]:
    jobs = _jobs("cd.yml")
    return sorted(
        job["environment"]["name"]
        for job_id, job in jobs.items()
        if job_id.startswith("deploy-") and _runs_for(job["if"], ref)
    )


@pytest.mark.parametrize(
    ("ref", "environments"),
    [
        ("refs/heads/develop", ["dev"]),
        ("refs/heads/main", ["staging"]),
        ("refs/tags/v1.4.0", ["prod"]),
        ("refs/heads/release/1.4.0", ["prod"]),
        ("refs/heads/feature/login", []),
    ],
)
def test_branch_to_environment_mapping(ref: str, environments: list[str]) -> None:
    assert _deployed_environments(ref) == environments


def test_cd_triggers_on_exactly_the_deploying_refs() -> None:
    push = triggers(load_yaml(WORKFLOWS / "cd.yml"))["push"]
    assert push == {
        "branches": ["develop", "main", "release/**"],
        "tags": ["v[0-9]+.[0-9]+.[0-9]+"],
    }


def test_staging_is_followed_by_end_to_end_checks_and_prod_by_reviewers() -> None:
    jobs = _jobs("cd.yml")
    e2e = jobs["e2e-staging"]
    assert e2e["needs"] == "deploy-staging"
    calls = [s["with"]["call"].split() for s in e2e["steps"] if DAGGER_ACTION in s.get("uses", "")]
    assert [call[:3] for call in calls] == [
        ["health", "--env", "staging"],
        ["e2e", "--env", "staging"],
    ]
    prod = jobs["deploy-prod"]
    prod_call = next(s for s in prod["steps"] if "uses" in s and DAGGER_ACTION in s["uses"])
    assert "--approve" in prod_call["with"]["call"].split()
    assert "--version ${{ steps.release.outputs.version }}" in prod_call["with"]["call"]
    assert all(jobs[j]["needs"] == "ci" for j in ("deploy-dev", "deploy-staging"))
    assert jobs["deploy-prod"]["needs"] == ["ci", "verify-staging"]
    assert jobs["ci"]["uses"] == "$/.github/workflows/ci.yml"


# job -> (the job it follows, the environment whose gateway the journey goes through)
JOURNEYS = {
    "integration-dev": ("deploy-dev", "dev"),
    "e2e-staging": ("deploy-staging", "staging"),
    "verify-staging": ("ci", "staging"),
}


@pytest.mark.parametrize("job_id", sorted(JOURNEYS))
def test_the_journey_runs_after_each_deploy_before_prod_with_a_token_for_the_url_it_tests(
    job_id: str,
) -> None:
    follows, env = JOURNEYS[job_id]
    job = _jobs("cd.yml")[job_id]
    assert job["needs"] == follows
    assert job["environment"]["name"] == env
    dagger = [s for s in job["steps"] if DAGGER_ACTION in str(s.get("uses", ""))]
    (journey,) = [s for s in dagger if s["with"]["call"].split()[0] == "e2e"]
    call = parse_call(journey["with"]["call"], set())
    assert call.arguments["--env"] == env
    assert call.arguments["--url"] == "$GATEWAY_URL"
    token = call.arguments["--token"]
    assert token is not None
    assert token.startswith("env://")
    # The token is minted for the URL the journey tests, by the step just before it.
    auth = job["steps"][job["steps"].index(journey) - 1]
    assert str(auth["uses"]).startswith(AUTH_ACTION)
    assert auth["with"]["token_format"] == "id_token"
    assert journey["env"]["GATEWAY_URL"] == auth["with"]["id_token_audience"]
    assert journey["env"][token.removeprefix("env://")] == (
        f"${{{{ steps.{auth['id']}.outputs.id_token }}}}"
    )


def test_prod_is_asked_for_only_after_the_suite_passed_against_staging() -> None:
    jobs = _jobs("cd.yml")
    gate, prod = jobs["verify-staging"], jobs["deploy-prod"]
    assert gate["if"] == prod["if"]  # the same release refs
    for ref in ("refs/tags/v1.4.0", "refs/heads/release/1.4.0"):
        assert _runs_for(gate["if"], ref)
    assert not _runs_for(gate["if"], "refs/heads/main")
    assert "verify-staging" in prod["needs"]


def test_staging_is_tested_by_dast_with_an_id_token_for_the_url_it_tests() -> None:
    job = _jobs("cd.yml")["dast-staging"]
    assert job["needs"] == "deploy-staging"
    assert job["environment"]["name"] == "staging"
    auth = next(s for s in job["steps"] if str(s.get("uses", "")).startswith(AUTH_ACTION))
    dast = next(s for s in job["steps"] if DAGGER_ACTION in str(s.get("uses", "")))
    call = parse_call(dast["with"]["call"], set())
    assert call.function == "dast"
    assert (
        call.arguments["--urls"] == "$GATEWAY_URL"
    )  # quoted in the workflow, as the shell reads it
    assert dast["env"]["GATEWAY_URL"] == auth["with"]["id_token_audience"]
    token = call.arguments["--token"]
    assert token is not None
    assert token.startswith("env://")
    assert dast["env"][token.removeprefix("env://")] == (
        f"${{{{ steps.{auth['id']}.outputs.id_token }}}}"
    )


TERRAFORM_FUNCTIONS = ("plan", "apply", "deploy")
#: flag -> (step env variable it is read from, the GitHub variable that fills it)
TERRAFORM_INPUT_FLAGS = {
    "--billing-account": ("BILLING_ACCOUNT", "${{ vars.GCP_BILLING_ACCOUNT }}"),
    "--alert-email": ("ALERT_EMAIL", "${{ vars.ALERT_EMAIL }}"),
}


def _monitoring_enabled(env: str) -> bool:
    path = ROOT / "terraform" / "environments" / env / "settings.json"
    value = json.loads(path.read_text(encoding="utf-8"))["monitoring_enabled"]
    assert isinstance(value, bool)
    return value


def test_every_terraform_call_passes_the_roots_required_inputs_through_env() -> None:
    """plan/apply/deploy need the root variables settings.json does not hold (variables.tf)."""
    seen: set[str] = set()
    for step in DAGGER_STEPS:
        call = parse_call(step.body["with"]["call"], {"--approve", "--dry-run", "--json"})
        if call.function not in TERRAFORM_FUNCTIONS:
            continue
        env = call.arguments["--env"]
        assert env is not None
        seen.add(env)
        required = ["--billing-account"]
        if _monitoring_enabled(env):
            required.append("--alert-email")
        step_env = step.body.get("env", {})
        for flag in required:
            variable, source = TERRAFORM_INPUT_FLAGS[flag]
            assert call.arguments.get(flag) == f"${variable}", (
                f'{step.where}: pass {flag} "${variable}" (env {env} requires it)'
            )
            assert f'{flag} "${variable}"' in step.body["with"]["call"], (
                f"{step.where}: quote ${variable} so an unset variable stays one empty argument"
            )
            assert step_env.get(variable) == source, f"{step.where}: env {variable}: {source}"
        assert "vars." not in step.body["with"]["call"], (
            f"{step.where}: GitHub variables go through env:, never into the command line"
        )
    assert seen == set(ENVIRONMENTS), "every environment is deployed by a Terraform-applying call"
    assert [env for env in ENVIRONMENTS if _monitoring_enabled(env)] == ["prod", "staging"]


def test_rollout_summary_reaches_the_job_summary() -> None:
    for job_id in (f"deploy-{env}" for env in ENVIRONMENTS):
        job = _jobs("cd.yml")[job_id]
        exports = _exports(job)
        assert len(exports) == 1, job_id
        (target,) = exports
        summary = next(s for s in job["steps"] if s.get("name") == "Rollout summary")
        assert summary["if"] == "${{ !cancelled() }}"
        assert summary["env"]["SUMMARY_FILE"] == target
        assert 'cat "$SUMMARY_FILE" >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
        assert "${{" not in summary["run"], "expressions go through env:, never into run:"


def test_security_scans_daily_and_on_demand_and_codeql_also_on_every_change() -> None:
    on = triggers(load_yaml(WORKFLOWS / "security.yml"))
    assert set(on) == {"schedule", "workflow_dispatch", "push", "pull_request"}
    (cron,) = (entry["cron"] for entry in on["schedule"])
    minute, hour, day, month, weekday = cron.split()
    assert (day, month, weekday) == ("*", "*", "*")
    assert minute.isdigit()
    assert hour.isdigit()
    protected = ["main", "develop", "release/**"]
    assert on["push"] == {"branches": protected}
    assert on["pull_request"] == {"branches": protected}
    assert triggers(load_yaml(WORKFLOWS / "ci.yml"))["pull_request"] == {"branches": protected}
    jobs = _jobs("security.yml")
    # The image and dependency scans stay daily: pull requests get the same gates from ci.yml.
    assert jobs["security"]["if"] == (
        "${{ github.event_name == 'schedule' || github.event_name == 'workflow_dispatch' }}"
    )
    assert "if" not in jobs["codeql"]


def test_codeql_analyses_python_with_the_pinned_action_release() -> None:
    job = _jobs("security.yml")["codeql"]
    assert job["permissions"] == {
        "actions": "read",
        "contents": "read",
        "security-events": "write",
    }
    uses = [str(step.get("uses", "")) for step in job["steps"]]
    init, analyze = (
        next(step for step in job["steps"] if str(step.get("uses", "")).startswith(name))
        for name in ("github/codeql-action/init@", "github/codeql-action/analyze@")
    )
    assert uses.index(init["uses"]) < uses.index(analyze["uses"])
    assert init["with"]["languages"] == "python"
    assert init["with"]["build-mode"] == "none"
    assert analyze["with"]["category"] == "/language:python"
    # Every codeql-action step (init, analyze, upload-sarif) is the same release.
    pins = {
        str(step["uses"]).split("@", 1)[1]
        for workflow in workflow_files()
        for job in load_yaml(workflow)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("github/codeql-action/")
    }
    assert len(pins) == 1


def test_security_uploads_the_reports_before_the_gates_fail_the_job() -> None:
    job = _jobs("security.yml")["security"]
    calls = [s.body["with"]["call"] for s in DAGGER_STEPS if s.workflow == "security.yml"]
    assert calls == [
        "security-report -o reports/security",
        "scan-report -o reports/scan",
        "security",
        "scan",
    ]
    bodies = job["steps"]
    kinds = [str(b.get("uses", "")).split("@")[0] for b in bodies]
    last_upload = max(
        i for i, kind in enumerate(kinds) if kind.endswith(("upload-sarif", "upload-artifact"))
    )
    gates = [
        i for i, b in enumerate(bodies) if b.get("with", {}).get("call") in {"security", "scan"}
    ]
    assert gates
    assert min(gates) > last_upload, "the gates run after every upload, so findings always arrive"
    for body in bodies[2:]:
        # A failed export or gate must not skip what follows: reports, uploads, other gates.
        assert "!cancelled()" in body.get("if", ""), body["name"]


def test_each_image_report_has_its_own_code_scanning_category() -> None:
    """Code scanning rejects two runs of one tool (trivy) under one category."""
    job = _jobs("security.yml")["security"]
    uploads = [
        body
        for body in job["steps"]
        if str(body.get("uses", "")).startswith("github/codeql-action/upload-sarif@")
    ]
    categories = [body["with"]["category"] for body in uploads]
    assert len(set(categories)) == len(categories)
    images = [
        body["with"]["sarif_file"]
        for body in uploads
        if body["with"]["sarif_file"].startswith("reports/scan/")
    ]
    assert sorted(images) == sorted(f"reports/scan/{service}.sarif" for service in SERVICES)
    for body in uploads:
        sarif = body["with"]["sarif_file"]
        pattern = sarif if sarif.endswith(".sarif") else f"{sarif}/*.sarif"
        assert f"hashFiles('{pattern}') != ''" in body["if"], "upload only what was written"


def test_data_file_records_its_source() -> None:
    assert ACTION["source"].startswith(f"https://github.com/{DAGGER_ACTION}/blob/")
    assert ACTION["commit"] in ACTION["source"]
    assert Path(ACTION["source"]).name == "action.yml"


def test_sarif_uploads_may_read_the_workflow_run() -> None:
    """upload-sarif reads the run it uploads for; on a private repository that needs actions: read."""
    for path in workflow_files():
        for job_id, job in load_yaml(path)["jobs"].items():
            uploads = [
                s
                for s in job.get("steps", [])
                if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")
            ]
            if uploads:
                assert job["permissions"].get("actions") == "read", f"{path.name} job {job_id}"
                assert job["permissions"].get("security-events") == "write"
