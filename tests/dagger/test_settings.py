"""Input validation and the settings the module reads (plain Python, no engine)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from clarity._errors import ApprovalError, InputError, SettingsError
from clarity._settings import (
    BILLING_ACCOUNT_PATTERN,
    EMAIL_PATTERN,
    ENVIRONMENTS,
    SERVICES,
    EnvironmentSettings,
    TerraformInputs,
    check_approval,
    deploy_stages,
    dockerfile,
    image_address,
    parse_settings,
    pinned_address,
    project_version,
    registry_host,
    service_of,
    settings_path,
    terraform_inputs,
    validate_commit,
    validate_environment,
    validate_region,
    validate_rollback_target,
    validate_service,
    validate_version,
)

pytestmark = pytest.mark.dagger

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32


def settings_text(**overrides: Any) -> str:
    data: dict[str, Any] = {
        "environment": "dev",
        "project_id": "clarity-loop-dev",
        "region": "us-central1",
        "services": {
            "api-gateway": {"name": "clarity-api-gateway"},
            "ml-service": {"name": "clarity-ml-service"},
        },
        "artifact_registry": {"repository": "clarity"},
        "rollout": {"strategy": "canary", "require_approval": False},
        "monitoring_enabled": False,
    }
    data.update(overrides)
    return json.dumps(data)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_repository_settings_parse(env: str) -> None:
    text = (ROOT / settings_path(env)).read_text()
    settings = parse_settings(env, text)
    assert settings.environment == env
    assert settings.services == SERVICES
    assert settings.project_id == json.loads(text)["project_id"]


def test_prod_settings_require_approval() -> None:
    prod = parse_settings("prod", (ROOT / settings_path("prod")).read_text())
    assert prod.require_approval is True


@pytest.mark.parametrize("env", ["", "production", "Dev", "dev ", "../prod"])
def test_unknown_environments_are_refused(env: str) -> None:
    with pytest.raises(InputError, match="use one of dev, staging, prod"):
        validate_environment(env)


@pytest.mark.parametrize("version", ["1.2.3", "v1.2.3", "0.1.0-rc.1", "10.20.30-beta-2"])
def test_semantic_versions_pass(version: str) -> None:
    assert validate_version(version) == version


@pytest.mark.parametrize(
    "version", ["", "1.2", "01.2.3", "1.2.3;rm", "latest", "1.2.3 ", "1.2.3-a..b", "1.2.3+build.7"]
)
def test_other_versions_fail_with_an_example(version: str) -> None:
    with pytest.raises(InputError, match=r"such as 1\.4\.0"):
        validate_version(version)


@pytest.mark.parametrize("commit", ["abc1234", "a" * 40])
def test_commits(commit: str) -> None:
    assert validate_commit(commit) == commit


@pytest.mark.parametrize("commit", ["abc123", "A" * 40, "g" * 7, "a" * 41, "HEAD"])
def test_bad_commits(commit: str) -> None:
    with pytest.raises(InputError, match="git rev-parse HEAD"):
        validate_commit(commit)


@pytest.mark.parametrize("region", ["us-central1", "europe-west4", "asia-northeast3"])
def test_regions(region: str) -> None:
    assert validate_region(region) == region
    assert registry_host(region) == f"{region}-docker.pkg.dev"


@pytest.mark.parametrize("region", ["us", "US-CENTRAL1", "us-central", "evil.com/x", "us-central0"])
def test_bad_regions(region: str) -> None:
    with pytest.raises(InputError, match="such as us-central1"):
        validate_region(region)


def test_services_are_checked_against_the_settings() -> None:
    assert validate_service("ml-service", dict.fromkeys(SERVICES)) == "ml-service"
    with pytest.raises(InputError, match="the settings define api-gateway, ml-service"):
        validate_service("worker", dict.fromkeys(SERVICES))


def test_rollback_targets() -> None:
    assert validate_rollback_target("previous") == "previous"
    assert validate_rollback_target("1.3.0") == "1.3.0"
    with pytest.raises(InputError, match="'previous' or a released version"):
        validate_rollback_target("last")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"project_id": "Bad_Project"}, "invalid project_id"),
        ({"region": "mars"}, "such as us-central1"),
        ({"artifact_registry": {}}, "has no 'artifact_registry.repository'"),
        ({"artifact_registry": {"repository": "Bad Repo"}}, "invalid repository"),
        ({"services": {}}, "at least one service"),
        ({"services": {"API": {}}}, "invalid service name"),
        ({"environment": "prod"}, "declares environment 'prod'"),
        ({"monitoring_enabled": "yes"}, "monitoring_enabled must be true or false"),
    ],
)
def test_malformed_settings_say_what_is_wrong(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings("dev", settings_text(**overrides))


def test_settings_must_be_a_json_object() -> None:
    with pytest.raises(SettingsError, match="not valid JSON"):
        parse_settings("dev", "{")
    with pytest.raises(SettingsError, match="must hold a JSON object"):
        parse_settings("dev", "[]")


def test_missing_fields_name_the_file_and_the_field() -> None:
    data = json.loads(settings_text())
    del data["project_id"]
    with pytest.raises(SettingsError, match=r"environments/dev/settings.json has no 'project_id'"):
        parse_settings("dev", json.dumps(data))


def test_image_address_follows_artifact_registry_layout() -> None:
    settings = parse_settings("dev", settings_text())
    assert (
        image_address(settings, "api-gateway", "1.4.0")
        == "us-central1-docker.pkg.dev/clarity-loop-dev/clarity/api-gateway:1.4.0"
    )
    with pytest.raises(InputError):
        image_address(settings, "worker", "1.4.0")
    with pytest.raises(InputError):
        image_address(settings, "api-gateway", "latest")


def test_pinned_address_drops_the_tag_and_keeps_the_digest() -> None:
    published = f"us-central1-docker.pkg.dev/p/clarity/api-gateway:1.4.0@{DIGEST}"
    pinned = pinned_address(published)
    assert pinned == f"us-central1-docker.pkg.dev/p/clarity/api-gateway@{DIGEST}"
    assert pinned_address(pinned) == pinned
    assert pinned_address(f"localhost:5000/api-gateway:1@{DIGEST}") == (
        f"localhost:5000/api-gateway@{DIGEST}"
    )
    assert service_of(published) == "api-gateway"
    for bad in ("registry/x:1.0", f"x@{DIGEST[:-1]}", f"a b@{DIGEST}"):
        with pytest.raises(InputError, match="expected a digest reference"):
            pinned_address(bad)
    with pytest.raises(InputError, match="unknown service 'worker'"):
        service_of(f"r/p/worker@{DIGEST}")


def test_dockerfiles_live_under_docker_service() -> None:
    assert [dockerfile(s) for s in SERVICES] == [
        "docker/api-gateway/Dockerfile",
        "docker/ml-service/Dockerfile",
    ]
    with pytest.raises(InputError):
        dockerfile("../etc")


def test_project_version_is_read_from_pyproject() -> None:
    assert project_version((ROOT / "pyproject.toml").read_text()) == "0.1.0"
    with pytest.raises(InputError, match="pass --version"):
        project_version("[project]\nname = 'x'\n")
    with pytest.raises(InputError, match="not valid TOML"):
        project_version("[project")


def test_prod_and_approval_requiring_environments_refuse_without_approve() -> None:
    prod = parse_settings("prod", settings_text(environment="prod"))
    with pytest.raises(ApprovalError, match="re-run with --approve"):
        check_approval(prod, approve=False)
    check_approval(prod, approve=True)
    gated_dev = parse_settings(
        "dev", settings_text(rollout={"strategy": "canary", "require_approval": True})
    )
    with pytest.raises(ApprovalError):
        check_approval(gated_dev, approve=False)
    check_approval(parse_settings("dev", settings_text()), approve=False)


def test_deploy_stages() -> None:
    prod = parse_settings("prod", settings_text(environment="prod"))
    assert deploy_stages(prod, approve=True, dry_run=False) == (
        "staged",
        "verify",
        "promote",
        "apply",
        "rollout",
    )
    assert deploy_stages(prod, approve=False, dry_run=True) == (
        "staged",
        "verify",
        "plan",
        "rollout --dry-run",
    )
    with pytest.raises(ApprovalError):
        deploy_stages(prod, approve=False, dry_run=False)
    staging = parse_settings("staging", settings_text(environment="staging"))
    assert deploy_stages(staging, approve=False, dry_run=False, signs=True) == (
        "build",
        "scan",
        "publish",
        "sign",
        "apply",
        "rollout",
    )
    assert deploy_stages(staging, approve=False, dry_run=True) == (
        "build",
        "scan",
        "plan",
        "rollout --dry-run",
    )
    dev = parse_settings("dev", settings_text())
    assert "sign" not in deploy_stages(dev, approve=False, dry_run=False)


# ------------------------------------------------------------------ Terraform inputs

BILLING = "012345-6789AB-CDEF01"


def _monitored(*, on: bool) -> EnvironmentSettings:
    env = "staging" if on else "dev"
    return parse_settings(env, settings_text(environment=env, monitoring_enabled=on))


def _validation_regex(env: str, variable: str) -> str:
    """The pattern of ``can(regex("...", ...var.<variable>...))`` in the root, HCL-unescaped."""
    text = (ROOT / "terraform" / "environments" / env / "variables.tf").read_text()
    found = re.findall(rf'regex\("((?:[^"\\]|\\.)*)",[^)]*var\.{variable}', text)
    assert len(found) == 1, f"{env}/variables.tf: one regex validation of {variable}"
    return str(json.loads(f'"{found[0]}"'))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_formats_are_the_ones_the_terraform_roots_validate(env: str) -> None:
    assert _validation_regex(env, "billing_account") == BILLING_ACCOUNT_PATTERN
    assert _validation_regex(env, "alert_notification_email") == EMAIL_PATTERN


@pytest.mark.parametrize(("env", "monitoring"), [("dev", False), ("staging", True), ("prod", True)])
def test_the_repository_settings_say_where_monitoring_is_on(env: str, monitoring: bool) -> None:
    settings = parse_settings(env, (ROOT / settings_path(env)).read_text())
    assert settings.monitoring_enabled is monitoring


def test_monitoring_enabled_is_required() -> None:
    data = json.loads(settings_text())
    del data["monitoring_enabled"]
    with pytest.raises(SettingsError, match="has no 'monitoring_enabled': add it"):
        parse_settings("dev", json.dumps(data))


def test_terraform_inputs_become_tf_var_environment_variables() -> None:
    inputs = terraform_inputs(
        _monitored(on=True),
        billing_account=BILLING,
        alert_email="oncall@example.com",
        function_name="plan",
    )
    assert inputs == TerraformInputs(
        billing_account=BILLING, alert_notification_email="oncall@example.com"
    )
    assert inputs.environment() == {
        "TF_VAR_billing_account": BILLING,
        "TF_VAR_alert_notification_email": "oncall@example.com",
    }


def test_without_monitoring_the_alert_email_is_optional_and_left_unset() -> None:
    inputs = terraform_inputs(
        _monitored(on=False), billing_account=BILLING, alert_email="", function_name="deploy"
    )
    assert inputs.alert_notification_email is None
    # Unset, not "": Terraform's email validation accepts null but rejects an empty string.
    assert inputs.environment() == {"TF_VAR_billing_account": BILLING}
    given = terraform_inputs(
        _monitored(on=False), billing_account=BILLING, alert_email="a@b.io", function_name="apply"
    )
    assert given.environment()["TF_VAR_alert_notification_email"] == "a@b.io"


@pytest.mark.parametrize("function_name", ["plan", "apply", "deploy"])
def test_a_missing_billing_account_says_what_to_pass(function_name: str) -> None:
    with pytest.raises(
        InputError, match=rf"^{function_name} needs --billing-account: .*012345-6789AB-CDEF01"
    ):
        terraform_inputs(
            _monitored(on=False),
            billing_account="",
            alert_email="",
            function_name=function_name,
        )


@pytest.mark.parametrize(
    "account",
    [
        "012345-6789ab-cdef01",
        "012345-6789AB",
        "0123456789ABCDEF01",  # pragma: allowlist secret
        "012345-6789AB-CDEF01 ",
        "012345-6789AB-CDEF01\n",
        " 012345-6789AB-CDEF01",
        "billingAccounts/012345-6789AB-CDEF01",  # pragma: allowlist secret
        "012345-6789AB-CDEF0G",
    ],
)
def test_malformed_billing_accounts_are_refused(account: str) -> None:
    with pytest.raises(InputError, match=r"invalid --billing-account .*such as 012345-6789AB"):
        terraform_inputs(
            _monitored(on=False), billing_account=account, alert_email="", function_name="plan"
        )


def test_monitored_environments_need_an_alert_email() -> None:
    with pytest.raises(
        InputError,
        match=(
            r"^deploy --env staging needs --alert-email: "
            r"terraform/environments/staging/settings.json has monitoring_enabled = true"
        ),
    ):
        terraform_inputs(
            _monitored(on=True), billing_account=BILLING, alert_email="", function_name="deploy"
        )


@pytest.mark.parametrize(
    "email",
    ["oncall", "oncall@example", "@example.com", "on call@example.com", "a@b@c.io", "a@b.io\n"],
)
def test_malformed_alert_emails_are_refused(email: str) -> None:
    for on in (True, False):
        with pytest.raises(InputError, match=r"invalid --alert-email .*such as oncall@example"):
            terraform_inputs(
                _monitored(on=on), billing_account=BILLING, alert_email=email, function_name="plan"
            )


@pytest.mark.parametrize("email", ["oncall@example.com", "team+alerts@sub.example.org"])
def test_well_formed_alert_emails_pass(email: str) -> None:
    inputs = terraform_inputs(
        _monitored(on=True), billing_account=BILLING, alert_email=email, function_name="apply"
    )
    assert inputs.alert_notification_email == email
