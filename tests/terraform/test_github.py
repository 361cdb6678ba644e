"""terraform/github: the repository's rules as code, checked against the workflows they govern.

A ruleset that requires a check no pull request reports blocks every merge; an environment
that admits another ref than cd.yml deploys from either blocks a deploy or lets the wrong
branch reach prod; a variable a workflow reads and nobody sets arrives empty. Each of those
is checked here, offline: tfparse evaluates the root with the stand-in inputs in
tests/terraform/fixtures/github.tfvars, and the workflows are read as GitHub reads them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import hcl2
import pytest
from clarity_release import version_from_ref

from tests.terraform._terraform import (
    ENVIRONMENTS,
    FIXTURES,
    TERRAFORM_DIR,
    Graph,
    load_settings,
    parse_graph,
)
from tests.workflows._support import WORKFLOWS, load_yaml, triggers, workflow_files

pytestmark = pytest.mark.terraform

GITHUB_DIR = TERRAFORM_DIR / "github"
#: The actor id rulesets give GitHub Actions (the GitHub App that reports workflow jobs).
ACTIONS_APP_ID = 15368
#: Sample refs: what cd.yml deploys from, and what it must not.
BRANCHES = ("develop", "main", "release/1.4.0", "release/hotfix/1.4.1", "feature/login")
TAGS = ("v1.4.0", "v10.20.30")


@pytest.fixture(scope="module")
def graph() -> Graph:
    """The GitHub root evaluated with the stand-in inputs."""
    return parse_graph(GITHUB_DIR, tfvars=FIXTURES / "github.tfvars")


def _local(graph: Graph, name: str) -> Any:
    (value,) = [block[name] for block in graph.raw["locals"] if name in block]
    return value


@cache
def _source(name: str) -> dict[str, Any]:
    """A resource block of the root as written (dynamic blocks unexpanded), by address."""
    for path in GITHUB_DIR.glob("*.tf"):
        for block in hcl2.loads(path.read_text()).get("resource", []):
            for kind, named in block.items():
                for label, body in named.items():
                    if f"{kind.strip(chr(34))}.{label.strip(chr(34))}" == name:
                        return dict(body)
    raise KeyError(name)


# ------------------------------------------------------------------ GitHub's patterns


def glob(pattern: str) -> re.Pattern[str]:
    """A ruleset, deployment-policy or workflow-filter pattern as a regex: `*` and `?` stay
    within a path segment, `**/` spans any depth, `**` anything; workflow filters also use
    `+` (one or more of what precedes) and character classes."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        elif pattern[i] == "+":
            out.append("+")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def matches(patterns: list[str], name: str) -> bool:
    """Whether any pattern matches the whole name."""
    return any(glob(pattern).fullmatch(name) for pattern in patterns)


def test_the_pattern_reading_agrees_with_githubs_documented_examples() -> None:
    assert matches(["refs/heads/release/**/*"], "refs/heads/release/1.4.0")
    assert matches(["refs/heads/release/**/*"], "refs/heads/release/a/b")
    assert not matches(["release/*"], "release/a/b")
    assert matches(["release/**"], "release/a/b")
    assert matches(["v[0-9]+.[0-9]+.[0-9]+"], "v10.2.3")
    assert not matches(["v[0-9]+.[0-9]+.[0-9]+"], "v1.4.0-rc1")


# ------------------------------------------------------------------ which jobs run when


def _condition(text: str, event: str, ref: str, ran: dict[str, bool]) -> bool:
    """The `if:` forms the workflows use: event and ref tests, `!cancelled()` and needed jobs'
    results, joined by && and ||. Anything else fails the test, to be taught here first."""
    inner = text.strip().removeprefix("${{").removesuffix("}}").strip()
    term = re.compile(
        r"^(?:github\.event_name (?P<eop>==|!=) '(?P<event>[^']+)'"
        r"|github\.ref (?P<rop>==|!=) '(?P<ref>[^']+)'"
        r"|startsWith\(github\.ref, '(?P<prefix>[^']+)'\)"
        r"|needs\.(?P<job>[\w-]+)\.result (?P<nop>==|!=) '(?P<result>\w+)'"
        r"|(?P<running>!cancelled\(\)))$"
    )

    def value(text: str) -> bool:
        match = term.match(text.strip())
        assert match is not None, f"teach _condition the term {text!r}"
        if match["event"]:
            return (event == match["event"]) == (match["eop"] == "==")
        if match["ref"]:
            return (ref == match["ref"]) == (match["rop"] == "==")
        if match["prefix"]:
            return ref.startswith(match["prefix"])
        if match["job"]:
            result = "success" if ran[match["job"]] else "skipped"
            return (result == match["result"]) == (match["nop"] == "==")
        return True

    return any(all(value(t) for t in part.split("&&")) for part in inner.split("||"))


def running_jobs(jobs: dict[str, Any], event: str, ref: str) -> dict[str, bool]:
    """Whether each job runs: its needs ran (unless its `if` checks their results) and its
    `if:` holds."""
    ran: dict[str, bool] = {}
    pending = dict(jobs)
    while pending:
        for job_id, job in list(pending.items()):
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if any(need not in ran for need in needs):
                continue
            condition = str(job.get("if", ""))
            status_checked = "cancelled()" in condition or "always()" in condition
            runs = status_checked or all(ran[need] for need in needs)
            if condition:
                runs = runs and _condition(condition, event, ref, ran)
            ran[job_id] = runs
            del pending[job_id]
    return ran


def pull_request_check_runs(branch: str) -> set[str]:
    """The check runs a pull request into branch gets: each running job's name (else id)."""
    names = set()
    for path in workflow_files():
        workflow = load_yaml(path)
        on = triggers(workflow)
        if "pull_request" not in on:
            continue
        branches = (on["pull_request"] or {}).get("branches")
        if branches is not None and not matches(branches, branch):
            continue
        for job_id, runs in running_jobs(
            workflow["jobs"], "pull_request", "refs/pull/1/merge"
        ).items():
            if not runs:
                continue
            job = workflow["jobs"][job_id]
            assert "matrix" not in job.get("strategy", {}), f"{path.name} {job_id}: a matrix"
            name = str(job.get("name", job_id))
            assert "${{" not in name, f"{path.name} {job_id}: a check name must be fixed"
            names.add(name)
    return names


def cd_environments(ref: str) -> set[str]:
    """The environments cd.yml deploys ref to (push trigger, then each job's condition)."""
    workflow = load_yaml(WORKFLOWS / "cd.yml")
    push = triggers(workflow)["push"]
    kind, _, name = ref.removeprefix("refs/").partition("/")
    if not matches(push.get("branches" if kind == "heads" else "tags", []), name):
        return set()
    ran = running_jobs(workflow["jobs"], "push", ref)
    return {
        job["environment"]["name"]
        for job_id, job in workflow["jobs"].items()
        if ran[job_id] and "environment" in job
    }


def deployed_environments(ref: str) -> set[str]:
    """cd_environments, less prod for a ref that names no release: the prod job's first step
    (`clarity_release ref-version`) stops there, before the environment is asked."""
    environments = cd_environments(ref)
    try:
        version_from_ref(ref)
    except ValueError:
        environments.discard("prod")
    return environments


def _refs() -> Iterator[str]:
    yield from (f"refs/heads/{branch}" for branch in BRANCHES)
    yield from (f"refs/tags/{tag}" for tag in TAGS)


# ------------------------------------------------------------------ rulesets


def test_required_checks_are_the_check_runs_every_pull_request_gets(graph: Graph) -> None:
    required = set(_local(graph, "_required_checks"))
    assert required
    protected = _local(graph, "_integration_branches") + _local(graph, "_release_branches")
    samples = {"main", "develop", "release/1.4.0", "release/hotfix/1.4.1"}
    assert {s for s in samples if matches(protected, f"refs/heads/{s}")} == samples
    for branch in samples:
        assert pull_request_check_runs(branch) == required, (
            f"a pull request into {branch} reports {sorted(pull_request_check_runs(branch))}, "
            f"the ruleset requires {sorted(required)}"
        )


def test_a_renamed_job_would_be_caught() -> None:
    """The comparison reads job names: the security workflow's daily job is not a PR check."""
    assert "dagger call security-report, scan-report, security and scan" not in (
        pull_request_check_runs("main")
    )
    assert {"CodeQL (Python)", "dagger call ci"} <= pull_request_check_runs("main")


def test_required_checks_must_come_from_github_actions(graph: Graph) -> None:
    assert _local(graph, "_actions_app_id") == ACTIONS_APP_ID
    checks = _source("github_repository_ruleset.protected_branches")["rules"][0][
        "required_status_checks"
    ][0]
    (dynamic,) = checks["dynamic"]
    content = dynamic['"required_check"']["content"][0]
    assert content["integration_id"] == "${local._actions_app_id}"
    assert checks["strict_required_status_checks_policy"] is True


def test_protected_branches_change_only_by_reviewed_green_pull_requests(graph: Graph) -> None:
    (ruleset,) = [
        r
        for r in graph.resources("github_repository_ruleset")
        if r["target"] == "branch" and "pull_request" in r["rules"]
    ]
    assert ruleset["enforcement"] == "active"
    assert ruleset["conditions"]["ref_name"]["include"] == [
        "refs/heads/main",
        "refs/heads/develop",
        "refs/heads/release/**/*",
    ]
    rules = ruleset["rules"]
    assert (rules["deletion"], rules["non_fast_forward"], rules["required_linear_history"]) == (
        True,
        True,
        True,
    )
    review = rules["pull_request"]
    assert review["required_approving_review_count"] >= 1
    assert review["dismiss_stale_reviews_on_push"] is True
    assert review["require_last_push_approval"] is True
    assert review["required_review_thread_resolution"] is True
    scanning = rules["required_code_scanning"]["required_code_scanning_tool"]
    assert (scanning["tool"], scanning["security_alerts_threshold"]) == ("CodeQL", "high_or_higher")
    # Nobody bypasses it, admins included.
    source = _source("github_repository_ruleset.protected_branches")
    assert "bypass_actors" not in source
    assert "dynamic" not in source


def test_release_refs_are_created_by_maintainers_and_tags_never_move(graph: Graph) -> None:
    rulesets = {
        r["__tfmeta"]["path"].split(".")[1]: r for r in graph.resources("github_repository_ruleset")
    }
    assert set(rulesets) == {
        "protected_branches",
        "release_branch_creation",
        "release_tag_creation",
        "release_tags",
    }
    assert all(r["enforcement"] == "active" for r in rulesets.values())
    assert _local(graph, "_release_managers") == {"admin": 5, "maintain": 2}
    for name in ("release_branch_creation", "release_tag_creation"):
        rules = {k: v for k, v in rulesets[name]["rules"].items() if k not in {"__tfmeta", "id"}}
        assert rules == {"creation": True}, name
        (bypass,) = _source(f"github_repository_ruleset.{name}")["dynamic"]
        content = bypass['"bypass_actors"']
        assert content["for_each"] == "${local._release_managers}"
        assert content["content"][0]["actor_type"] == '"RepositoryRole"'
    tags = rulesets["release_tags"]
    assert tags["target"] == "tag"
    assert {k: v for k, v in tags["rules"].items() if k not in {"__tfmeta", "id"}} == {
        "deletion": True,
        "non_fast_forward": True,
        "update": True,
    }
    assert "dynamic" not in _source("github_repository_ruleset.release_tags")
    # Every ref cd.yml deploys from is covered by these rules.
    for ref in _refs():
        if not cd_environments(ref):
            continue
        covering = [
            name
            for name, ruleset in rulesets.items()
            if matches(ruleset["conditions"]["ref_name"]["include"], ref)
        ]
        expected = (
            {"release_tag_creation", "release_tags"}
            if ref.startswith("refs/tags/")
            else {"protected_branches"}
            | ({"release_branch_creation"} if "/release/" in ref else set())
        )
        assert set(covering) == expected, ref


# ------------------------------------------------------------------ environments


def test_each_environment_accepts_deployments_only_from_the_refs_cd_deploys_from(
    graph: Graph,
) -> None:
    (policy,) = graph.resources("github_repository_environment_deployment_policy")
    admitted: dict[str, list[tuple[str, str]]] = {}
    for entry in policy["for_each"].values():
        kind, pattern = ("heads", entry["branch"]) if entry["branch"] else ("tags", entry["tag"])
        admitted.setdefault(entry["environment"], []).append((kind, pattern))
    assert set(admitted) == set(ENVIRONMENTS)
    for ref in _refs():
        kind, _, name = ref.removeprefix("refs/").partition("/")
        deployed = deployed_environments(ref)
        for env in ENVIRONMENTS:
            allowed = matches([p for k, p in admitted[env] if k == kind], name)
            if env in deployed:
                assert allowed, f"cd.yml deploys {ref} to {env}, whose policy refuses it"
            elif kind == "heads":
                assert not allowed, f"{env} admits {ref}, which cd.yml never deploys there"
    # A release's run verifies staging (the E2E suite) before prod's reviewers are asked.
    assert deployed_environments("refs/heads/release/1.4.0") == {"staging", "prod"}
    assert deployed_environments("refs/tags/v1.4.0") == {"staging", "prod"}
    assert deployed_environments("refs/heads/main") == {"staging"}
    assert deployed_environments("refs/heads/feature/login") == set()


def test_environments_are_the_deploy_targets_and_admins_cannot_skip_their_rules(
    graph: Graph,
) -> None:
    environments = {e["environment"]: e for e in graph.resources("github_repository_environment")}
    assert set(environments) == set(ENVIRONMENTS)
    cd_jobs = load_yaml(WORKFLOWS / "cd.yml")["jobs"].values()
    assert {job["environment"]["name"] for job in cd_jobs if "environment" in job} == set(
        ENVIRONMENTS
    )
    for name, environment in environments.items():
        assert environment["can_admins_bypass"] is False, name
        assert environment["prevent_self_review"] is True, name
        assert environment["deployment_branch_policy"]["custom_branch_policies"] is True, name
        assert environment["deployment_branch_policy"]["protected_branches"] is False, name
    reviewers = _source("github_repository_environment.environment")["dynamic"][0]['"reviewers"']
    assert reviewers["content"][0]["users"] == (
        "${[for login in reviewers.value.users : tonumber(data.github_user.reviewer[login].id)]}"
    )
    found = {d["__tfmeta"]["path"] for d in graph.blocks("data")}
    assert found == {
        'data.github_team.reviewer["release-managers"]',
        'data.github_user.reviewer["octocat"]',
    }


def test_the_repository_is_the_one_the_google_side_trusts(graph: Graph) -> None:
    repositories = {load_settings(env)["github"]["repository"] for env in ENVIRONMENTS}
    (repository,) = repositories
    owner, name = repository.split("/")
    assert _local(graph, "_owner") == owner
    assert {r["repository"] for r in graph.blocks()} == {name}


# ------------------------------------------------------------------ Actions variables


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _read_variables(value: Any) -> set[str]:
    return {m for text in _strings(value) for m in re.findall(r"\bvars\.([A-Za-z_]\w*)", text)}


def test_every_variable_a_workflow_reads_is_set_and_nothing_else(graph: Graph) -> None:
    read = set().union(*(_read_variables(load_yaml(path)) for path in workflow_files()))
    repository = {v["variable_name"] for v in graph.resources("github_actions_variable")}
    per_environment: dict[str, set[str]] = {}
    for variable in graph.resources("github_actions_environment_variable"):
        per_environment.setdefault(variable["environment"], set()).add(variable["variable_name"])
    assert read == repository | set().union(*per_environment.values())
    # A job in an environment finds each variable it reads there or at the repository level.
    for path in workflow_files():
        workflow = load_yaml(path)
        for job_id, job in workflow["jobs"].items():
            env = job.get("environment", {}).get("name")
            missing = _read_variables(job) - repository - per_environment.get(env, set())
            assert not missing, f"{path.name} {job_id} ({env}) reads unset {sorted(missing)}"
    assert json.dumps(sorted(repository)) == json.dumps(
        [
            "ALERT_EMAIL",
            "DAGGER_RUNNER_HOST",
            "DAGGER_RUNS_ON",
            "GCP_BILLING_ACCOUNT",
            "SECURITY_CONTACTS",
        ]
    )


def test_optional_variables_left_null_are_not_set(tmp_path: Any) -> None:
    minimal = (FIXTURES / "github.tfvars").read_text()
    minimal = re.sub(r"dagger = \{.*?\n\}\n", "", minimal, flags=re.DOTALL)
    minimal = re.sub(r"security_contacts = .*\n", "", minimal)
    tfvars = tmp_path / "minimal.tfvars"
    tfvars.write_text(minimal)
    graph = parse_graph(GITHUB_DIR, tfvars=tfvars)
    repository = {v["variable_name"] for v in graph.resources("github_actions_variable")}
    assert repository == {"ALERT_EMAIL", "GCP_BILLING_ACCOUNT"}
