"""What the real Cloud Run and IAM would refuse, end to end: the CI identity and its ID tokens,
IAM derived from Terraform, who owns which field of a service, warm instances, audiences.

Every test runs the real CLI as CI does (workload identity federation, then impersonation of
the deployer) against the double, which enforces what Terraform grants. The small fixture
app stands in for the backend: none of this is about the backend.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clarity_delivery import _state as st
from clarity_delivery.permissions import granted_by
from google.cloud import run_v2
from google.protobuf import json_format

from tests.delivery.stage import (
    DEPLOYER,
    PROJECT,
    REGION,
    SERVICES,
    Stage,
    open_stage,
    terraform_dev,
)
from tests.doubles.iam import Grant
from tests.doubles.oauth import TokenEndpoint
from tests.doubles_tests.helpers import FAST_POLL
from tests.support.emulators import Emulators
from tests.support.terraform_env import evaluate
from tests.support.terraform_replay import api_path, ignored_paths, terraform_update

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(180)]

TOKEN_CREATOR = "roles/iam.serviceAccountOpenIdTokenCreator"


@pytest.fixture
def fast(tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators) -> Iterator[Stage]:
    """The stage with the fixture app behind every revision."""
    with open_stage(tmp_path, token_endpoint, emulators, fixture_app=True) as stage:
        yield stage


def _deploy_one(stage: Stage, key: str, version: str = "1.1.0") -> int:
    return stage.cli(
        "deploy", "--env", "dev", "--version", version, "--commit", "c0ffee1",
        "--allow-image-override", "--service", key, f"--image={key}={stage.image(key, version)}",
    )  # fmt: skip


def _shares(stage: Stage, key: str, revision: str) -> list[int]:
    return [split.get(revision, 0) for split in stage.double.routing_history(SERVICES[key])]


# ---------------------------------------------------------------------- 1. the CI identity


def test_ci_identity_mints_the_probes_id_tokens_as_itself(fast: Stage) -> None:
    assert fast.cli("health-check", "--env", "dev") == 0
    minted = [i for i in fast.identity.issued if i["via"] == "generateIdToken"]
    assert {i["sub"] for i in minted} == {fast.terraform.account(DEPLOYER)}
    assert fast.double.proxy_log
    assert all(r.status == 200 for r in fast.double.proxy_log)


def _without_token_creator(terraform: Path) -> None:
    iam = terraform / "stack" / "iam.tf"
    source = iam.read_text()
    edited = re.sub(r"\n\s*id_token_creators\s*=\s*\[[^\]]*\]", "", source)
    assert edited != source, "stack/iam.tf grants the deployer no OpenID token creator role"
    iam.write_text(edited)


def test_ci_identity_without_its_token_creator_grant_fails_clearly(
    tmp_path: Path,
    token_endpoint: TokenEndpoint,
    emulators: Emulators,
    capfd: pytest.CaptureFixture[str],
) -> None:
    terraform = evaluate("dev", project=PROJECT, region=REGION, edit=_without_token_creator)
    assert not [g for g in terraform.grants_of(DEPLOYER) if g.role == TOKEN_CREATOR]
    with open_stage(
        tmp_path, token_endpoint, emulators, terraform=terraform, fixture_app=True
    ) as stage:
        assert stage.cli("health-check", "--env", "dev") == 4
    err = capfd.readouterr().err
    assert "iam.serviceAccounts.getOpenIdToken" in err
    assert TOKEN_CREATOR in err


# ---------------------------------------------------------------------- 2. IAM as code


def _deployer_grants() -> list[Grant]:
    env = terraform_dev()
    deployer = env.account(DEPLOYER)
    federated = [
        g for g in env.policy.grants if g.resource.endswith(f"/serviceAccounts/{deployer}")
        and g.member.startswith("principalSet://")
    ]  # fmt: skip
    return [g for g in (*env.grants_of(DEPLOYER), *federated) if g.role not in _BOOKKEEPING]


_BOOKKEEPING = frozenset({"roles/logging.logWriter"})
"""Grants whose use never decides a result: the deployment entry in Cloud Logging is written
after the outcome is known, and a failed write is reported, never turned into another
outcome (the library's rule for every bookkeeping write).
``test_a_deployer_that_may_not_write_logs_keeps_its_result`` shows it for each of them."""

_METRIC_ANALYSIS = {
    "enabled": True,
    "window_seconds": 3,
    "delay_seconds": 0.5,
    "min_requests": 40,
    "max_extensions": 0,
}
"""Dev analyses no metrics; a grant that only metric analysis uses is checked with it on."""


def _command_for(grant: Grant, stage: Stage) -> tuple[str, ...]:
    """The cheapest command that needs what ``grant`` gives."""
    permissions = granted_by(grant.role)
    if "iam.serviceAccounts.actAs" in permissions:
        (key,) = [
            k
            for k, s in stage.terraform.services.items()
            if grant.resource.endswith(s.runtime_account)
        ]
        return ("deploy", "--env", "dev", "--version", "1.1.0", "--commit", "c0ffee1",
                "--allow-image-override", "--service", key,
                f"--image={key}={stage.image(key, '1.1.0')}")  # fmt: skip
    if "run.services.get" in permissions:
        return ("status", "--env", "dev")
    if permissions & {
        "iam.serviceAccounts.getOpenIdToken",
        "iam.serviceAccounts.getAccessToken",
        "run.routes.invoke",
    }:
        return ("health-check", "--env", "dev")
    # Anything else (reading metrics) is needed by the analysis of a rollout.
    images = [f"--image={k}={stage.image(k, '1.1.0')}" for k in SERVICES]
    return ("deploy", "--env", "dev", "--version", "1.1.0", "--commit", "c0ffee1",
            "--allow-image-override", *images)  # fmt: skip


@pytest.mark.parametrize(
    "grant", _deployer_grants(), ids=lambda g: f"{g.role}@{g.resource.rsplit('/', 1)[-1]}"
)
def test_each_grant_terraform_gives_the_deployer_is_needed(
    grant: Grant,
    tmp_path: Path,
    token_endpoint: TokenEndpoint,
    emulators: Emulators,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """What Terraform's evaluation grants, minus ``grant``: the command that needs it exits 4."""
    full = terraform_dev()
    reduced = dataclasses.replace(full, policy=full.policy.without(grant))
    metrics_only = granted_by(grant.role) == {"monitoring.timeSeries.list"}
    analysis = _METRIC_ANALYSIS if metrics_only else {"enabled": False}
    with open_stage(
        tmp_path,
        token_endpoint,
        emulators,
        terraform=reduced,
        fixture_app=True,
        metric_analysis=analysis,
    ) as stage:
        command = _command_for(grant, stage)
        assert stage.cli(*command) == 4, command
    err = capfd.readouterr().err
    assert "lacks" in err
    assert grant.role in err
    assert any(p.lower() in err.lower() for p in granted_by(grant.role)), err


@pytest.mark.parametrize("role", sorted(_BOOKKEEPING))
def test_a_deployer_that_may_not_write_logs_keeps_its_result(
    role: str,
    tmp_path: Path,
    token_endpoint: TokenEndpoint,
    emulators: Emulators,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Terraform's grants minus ``role``: the rollout succeeds as before, the failed entry is
    reported with the permission and the role, and nothing reaches Cloud Logging."""
    full = terraform_dev()
    (grant,) = [g for g in full.grants_of(DEPLOYER) if g.role == role]
    reduced = dataclasses.replace(full, policy=full.policy.without(grant))
    with open_stage(
        tmp_path, token_endpoint, emulators, terraform=reduced, fixture_app=True
    ) as stage:
        assert _deploy_one(stage, "ml-service") == 0
        assert stage.traffic("ml-service") == {"clarity-ml-service-1-1-0-c0ffee1": 100}
        assert [r["outcome"] for r in stage.records()] == ["succeeded"]
        assert stage.double.log_entries() == []
        writes = [r.status for r in stage.double.api_log if r.rpc == "WriteLogEntries"]
        assert writes == [403]
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    (error,) = [e for e in events if e["kind"] == "error"]
    assert "could not log rollout" in error["message"]
    assert "lacks permission logging.logEntries.create" in error["message"]
    assert role in error["message"]
    assert [e["outcome"] for e in events if e["kind"] == "done" and "outcome" in e] == ["succeeded"]


# ---------------------------------------------------------------------- 3. ownership


def _paths(value: Any, prefix: list[str | int]) -> Iterator[list[str | int]]:
    """Every leaf path of a JSON value (list items by index)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, [*prefix, key])
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _paths(item, [*prefix, index])
    else:
        yield prefix


def _at(value: Any, path: list[str | int]) -> Any:
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _written_by_rollouts(stage: Stage, before: dict[str, Any]) -> set[tuple[str | int, ...]]:
    """Every field the deployer's updates changed, as API paths (``before``: the service's JSON)."""
    written: set[tuple[str | int, ...]] = set()
    for record in stage.double.api_log:
        if record.rpc != "UpdateService" or record.status != 200:
            continue
        body = json.loads(record.body)
        for field in record.query.get("updateMask", "").split(","):
            if field == "template":
                for path in _paths(body["template"], ["template"]):
                    if _at(body, path) != _at(before, path):
                        written.add(tuple(path))
            elif field == "annotations":
                written.update(("annotations", key) for key in body.get("annotations", {}))
            else:
                written.add((field,))
    return written


def test_every_field_a_rollout_writes_is_ignored_by_terraform(fast: Stage) -> None:
    before = json_format.MessageToDict(run_v2.Service.pb(fast.service("ml-service")))
    assert _deploy_one(fast, "ml-service") == 0
    ignored = [api_path(p) for p in ignored_paths()]
    declared = set(fast.terraform.services["ml-service"].fields.get("annotations", {}))
    written = {
        path
        for path in _written_by_rollouts(fast, before)
        if not (path[0] == "annotations" and path[1] in declared)  # Terraform's own keys
    }
    assert ("template", "revision") in written
    uncovered = sorted((p for p in written if not any(p[: len(i)] == i for i in ignored)), key=repr)
    assert uncovered == [], f"rollouts write {uncovered}, which terraform apply would revert"


def test_terraform_apply_after_a_rollout_neither_conflicts_nor_moves_traffic(
    fast: Stage,
) -> None:
    assert _deploy_one(fast, "ml-service") == 0
    live = fast.service("ml-service")
    traffic = fast.traffic("ml-service")
    sent = terraform_update(fast.terraform.services["ml-service"], live, ignored_paths())
    fast.terraform_client().update_service(service=sent).result(timeout=60, polling=FAST_POLL)
    after = fast.service("ml-service")
    assert fast.traffic("ml-service") == traffic
    assert after.latest_created_revision == live.latest_created_revision
    assert st.RolloutState.from_service(after) is None
    assert st.history_of(after) == st.history_of(live)


def _with_memory(memory: str) -> Any:
    def edit(terraform: Path) -> None:
        settings = terraform / "environments" / "dev" / "settings.json"
        data = json.loads(settings.read_text())
        data["services"]["ml-service"]["memory"] = memory
        settings.write_text(json.dumps(data))

    return edit


def test_a_terraform_template_change_reaches_production_through_the_canary(fast: Stage) -> None:
    assert _deploy_one(fast, "ml-service") == 0
    stable = fast.service("ml-service").template.revision
    traffic = fast.traffic("ml-service")
    changed = evaluate("dev", project=PROJECT, region=REGION, edit=_with_memory("4Gi"))
    sent = terraform_update(
        changed.services["ml-service"], fast.service("ml-service"), ignored_paths()
    )
    fast.terraform_client().update_service(service=sent).result(timeout=60, polling=FAST_POLL)
    # Terraform's change waits in the service, nothing serves it yet.
    assert fast.traffic("ml-service") == traffic
    assert fast.double.revision(stable).containers[0].resources.limits["memory"] != "4Gi"
    # The next release of the same version rolls it out like any release.
    seen = len(fast.double.routing_history(SERVICES["ml-service"]))
    assert _deploy_one(fast, "ml-service") == 0
    candidate = "clarity-ml-service-1-1-0-c0ffee1-r2"
    assert fast.traffic("ml-service") == {candidate: 100}
    assert _shares(fast, "ml-service", candidate)[seen - 1 :] == [0, 25, 50, 100]
    assert fast.double.revision(candidate).containers[0].resources.limits["memory"] == "4Gi"


# ---------------------------------------------------------------------- 4. idle cost


def test_only_the_serving_revision_keeps_warm_instances(
    tmp_path: Path,
    token_endpoint: TokenEndpoint,
    emulators: Emulators,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prod = evaluate("prod", project=PROJECT, region=REGION)
    with open_stage(tmp_path, token_endpoint, emulators, terraform=prod, fixture_app=True) as stage:
        name = SERVICES["api-gateway"]
        base = stage.service("api-gateway").latest_ready_revision.rsplit("/", 1)[-1]
        assert stage.double.warm_instances(name) == {base: 2}
        assert stage.deploy("1.1.0") == 0
        candidate = "clarity-api-gateway-1-1-0-c0ffee1"
        assert st.tagged_revisions(stage.service("api-gateway"))["previous"] == base
        assert stage.double.warm_instances(name) == {candidate: 2}  # not the previous one
        capsys.readouterr()
        assert stage.cli("status", "--env", "dev") == 0
        assert f"warm instances: {candidate}=2" in capsys.readouterr().out
        mark = len(stage.double.api_log)
        assert stage.cli("rollback", "--env", "dev", "--to", "previous") == 0
        traffic_writes = [
            r for r in stage.double.api_log[mark:]
            if r.rpc == "UpdateService" and "traffic" in r.query.get("updateMask", "")
        ]  # fmt: skip
        assert len(traffic_writes) == len(SERVICES)  # the instant switch back: one write each
        assert stage.traffic("api-gateway") == {base: 100}
        assert stage.double.warm_instances(name) == {base: 2}


# ---------------------------------------------------------------------- 5. audiences


def test_probes_present_tokens_for_the_services_custom_audience(fast: Stage) -> None:
    audiences = {
        SERVICES[key]: list(service.fields.get("customAudiences", []))
        for key, service in fast.terraform.services.items()
    }
    assert all(len(a) == 1 for a in audiences.values()), audiences
    assert fast.deploy("1.1.0") == 0
    probes = [r for r in fast.double.proxy_log if r.tag is not None]
    assert probes
    for record in probes:
        assert record.status == 200
        assert [record.audience] == audiences[record.service]
