"""Every kind of credentials ``clarity-deploy`` accepts, end to end against local Google endpoints.

Each test runs the real CLI (``health-check``: an Admin API read with an access token, then
probes of both services that need an ID token for the service URL, as Cloud Run requires) with
one kind of credentials. google-auth's production code talks to :class:`GoogleIdentity` (STS,
IAM Credentials, OAuth, the metadata server) under Google's own host names; nothing of ours is
patched. Its answers are the stage's token authority's, so IAM is what Terraform grants and the
Cloud Run double verifies every token as it does in every other delivery test. The
service-account key path is covered by the rollout tests (``TokenEndpoint``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clarity_delivery import _state as st
from clarity_delivery.cli import main

from tests.delivery.stage import DEPLOYER, PROJECT, REPO, SERVICES, Stage, open_fixture_stage
from tests.doubles.google_identity import GoogleIdentity
from tests.doubles.iam import Grant, IamPolicy, service_account_resource
from tests.doubles.oauth import TokenEndpoint

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(120)]

IAM = "iamcredentials.googleapis.com"
OPERATOR = "user:operator@clarity.example"
"""A person running ``clarity-deploy`` from a workstation with their own Google account."""


def _operator_grants(deployer: str) -> set[Grant]:
    """What an operator is granted beside Terraform's grants (by whoever administers the
    project; Terraform grants no person anything): reading and invoking the services (the
    library asks Cloud Run whether its caller may, before it probes), and impersonating the
    deployer, whose ID tokens the probes present."""
    return {
        Grant(OPERATOR, "roles/run.viewer", f"projects/{PROJECT}"),
        Grant(OPERATOR, "roles/run.invoker", f"projects/{PROJECT}"),
        Grant(OPERATOR, "roles/iam.serviceAccountTokenCreator", service_account_resource(deployer)),
    }


@pytest.fixture
def guarded(tmp_path: Path, token_endpoint: TokenEndpoint) -> Iterator[Stage]:
    """Both services behind URLs that verify ID tokens and IAM, as Cloud Run's do; IAM is what
    Terraform grants plus what an operator is given."""
    with open_fixture_stage(tmp_path / "stage", token_endpoint) as world:
        policy = token_endpoint.policy
        assert policy is not None
        deployer = world.terraform.account(DEPLOYER)
        token_endpoint.policy = IamPolicy(policy.grants | _operator_grants(deployer))
        yield world


@pytest.fixture
def identity(
    tmp_path: Path, guarded: Stage, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GoogleIdentity]:
    double = GoogleIdentity(
        tmp_path / "identity",
        guarded.identity,
        email=guarded.terraform.account(DEPLOYER),
        project=PROJECT,
    ).start()
    for name, value in double.env().items():
        if not name.startswith("GCE_"):  # read at import: only a subprocess can use those
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("CLARITY_DEPLOYER_SERVICE_ACCOUNT", raising=False)
    monkeypatch.delenv("CLARITY_IAM_CREDENTIALS_ENDPOINT", raising=False)
    yield double
    double.stop()


def _args(stage: Stage, *argv: str, credentials: Path | None) -> list[str]:
    args = [*argv, "--settings-dir", str(stage.settings_dir), "--api-endpoint"]
    args += [stage.double.endpoint, "--ledger", str(stage.ledger), "--output", "json"]
    return args + (["--credentials", str(credentials)] if credentials else [])


def _audiences(stage: Stage) -> set[str]:
    """What Cloud Run accepts on the services' URLs: each one's custom audience."""
    return {st.audience_of(stage.service(svc)) for svc in SERVICES}


def _probed_with_id_tokens(stage: Stage) -> set[str]:
    """The audiences of the verified ID tokens the services' URLs were probed with."""
    audiences = {r.audience for r in stage.double.proxy_log if r.authorized}
    assert not [r for r in stage.double.proxy_log if not r.authorized]
    return _audiences(stage) & audiences


def test_workload_identity_federation(
    guarded: Stage, identity: GoogleIdentity, tmp_path: Path
) -> None:
    """What CI uses: the GitHub OIDC token exchanged at STS, then the deployer impersonated."""
    provider = guarded.terraform.provider
    info = identity.external_account(
        tmp_path / "github-oidc.jwt", provider, ref=guarded.terraform.apply_ref
    )
    creds = identity.write(tmp_path / "wif.json", info)
    assert main(_args(guarded, "health-check", "--env", "dev", credentials=creds)) == 0
    assert _probed_with_id_tokens(guarded) == _audiences(guarded)

    exchange = next(c for c in identity.calls if c.host == "sts.googleapis.com")
    assert exchange.body["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert exchange.body["audience"] == provider.audience
    assert exchange.body["subject_token"] == (tmp_path / "github-oidc.jwt").read_text()
    # Who called what: the federated identity impersonates the deployer, which mints the
    # probes' ID tokens as itself.
    deployer = f"serviceAccount:{identity.email}"
    access = next(c for c in identity.calls if c.path.endswith(":generateAccessToken"))
    assert access.path.endswith(f"{identity.email}:generateAccessToken")
    assert deployer not in guarded.identity.caller(access.authorization)
    assert any(m.startswith("principal") for m in guarded.identity.caller(access.authorization))
    id_tokens = [c for c in identity.calls if c.path.endswith(":generateIdToken")]
    assert {c.body["audience"] for c in id_tokens} == _audiences(guarded)
    assert all(guarded.identity.caller(c.authorization) == {deployer} for c in id_tokens)


def test_authorized_user_impersonates_the_deployer_for_id_tokens(
    guarded: Stage, identity: GoogleIdentity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = identity.authorized_user(OPERATOR)
    creds = identity.write(tmp_path / "adc.json", info)
    monkeypatch.setenv("CLARITY_DEPLOYER_SERVICE_ACCOUNT", identity.email)
    assert main(_args(guarded, "health-check", "--env", "dev", credentials=creds)) == 0
    assert _probed_with_id_tokens(guarded) == _audiences(guarded)
    refresh = next(c for c in identity.calls if c.host == "oauth2.googleapis.com")
    assert refresh.body["grant_type"] == "refresh_token"
    assert refresh.body["refresh_token"] == info["refresh_token"]
    id_tokens = [c for c in identity.calls if c.path.endswith(":generateIdToken")]
    assert all(c.path.endswith(f"{identity.email}:generateIdToken") for c in id_tokens)
    assert all(guarded.identity.caller(c.authorization) == {OPERATOR} for c in id_tokens)


def test_authorized_user_without_a_deployer_account_says_what_to_set(
    guarded: Stage, identity: GoogleIdentity, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    creds = identity.write(tmp_path / "adc.json", identity.authorized_user(OPERATOR))
    assert main(_args(guarded, "health-check", "--env", "dev", credentials=creds)) == 4
    err = capfd.readouterr().err
    assert "cannot mint ID tokens for health probes" in err
    assert "set CLARITY_DEPLOYER_SERVICE_ACCOUNT" in err
    assert not identity.paths(IAM)


def test_impersonated_service_account(
    guarded: Stage, identity: GoogleIdentity, tmp_path: Path
) -> None:
    creds = identity.write(tmp_path / "impersonated.json", identity.impersonated(OPERATOR))
    assert main(_args(guarded, "health-check", "--env", "dev", credentials=creds)) == 0
    assert _probed_with_id_tokens(guarded) == _audiences(guarded)
    iam = identity.paths(IAM)
    assert any(p.endswith(f"{identity.email}:generateAccessToken") for p in iam)
    assert any(p.endswith(f"{identity.email}:generateIdToken") for p in iam)


def test_a_refused_id_token_names_the_role(
    guarded: Stage, identity: GoogleIdentity, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The impersonated deployer mints the probes' ID tokens as itself: without Terraform's
    grant of the OpenID token creator role on itself, IAM Credentials answers 403."""
    policy = guarded.identity.policy
    assert policy is not None
    deployer = f"serviceAccount:{identity.email}"
    (own,) = [
        g
        for g in policy.of(deployer)
        if g.role == "roles/iam.serviceAccountOpenIdTokenCreator"
        and g.resource == service_account_resource(identity.email)
    ]
    guarded.identity.policy = policy.without(own)
    creds = identity.write(tmp_path / "impersonated.json", identity.impersonated(OPERATOR))
    assert main(_args(guarded, "health-check", "--env", "dev", credentials=creds)) == 4
    err = capfd.readouterr().err
    assert "could not mint an ID token" in err
    assert "roles/iam.serviceAccountOpenIdTokenCreator" in err


def test_metadata_server_credentials_on_compute(
    guarded: Stage, identity: GoogleIdentity, tmp_path: Path
) -> None:
    """Application Default Credentials on Google compute running as the deployer: the metadata
    server, in a fresh process (google-auth reads GCE_METADATA_HOST when it is imported)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"GOOGLE_APPLICATION_CREDENTIALS", "NO_GCE_CHECK"}
        and not key.startswith(("GCE_METADATA", "CLARITY_"))
    }
    home = tmp_path / "home"
    home.mkdir()
    env |= identity.env() | {"HOME": str(home), "CLOUDSDK_CONFIG": str(home / "gcloud")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "ci" / "src"), str(REPO / "src")])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "clarity_delivery",
            *_args(guarded, "health-check", "--env", "dev", credentials=None),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "dev: all health checks pass" in result.stdout
    assert _probed_with_id_tokens(guarded) == _audiences(guarded)
    paths = identity.paths("metadata")
    assert any(p.endswith("service-accounts/default/token") for p in paths)
    identities = [c for c in identity.calls if c.path.endswith("service-accounts/default/identity")]
    assert identities
    assert not identity.paths(IAM)  # the metadata server mints ID tokens itself


def test_credentials_files_of_unknown_or_broken_kinds_are_clear_errors(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "unknown.json": ({"type": "gdch_service_account"}, "has type 'gdch_service_account'"),
        "broken.json": ({"type": "external_account"}, "(external_account) is malformed"),
        "list.json": ([], "has type None"),
    }
    for name, (info, message) in cases.items():
        path = tmp_path / name
        path.write_text(json.dumps(info))
        argv = ["status", "--env", "dev", "--credentials", str(path), "--api-endpoint"]
        assert main([*argv, "http://127.0.0.1:9"]) == 4, name
        assert message in capfd.readouterr().err
    (tmp_path / "garbage.json").write_text("{not json")
    argv = ["status", "--env", "dev", "--credentials", str(tmp_path / "garbage.json")]
    assert main(argv) == 4
    assert "is not readable JSON" in capfd.readouterr().err
