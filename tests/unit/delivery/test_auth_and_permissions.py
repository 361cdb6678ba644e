"""ID tokens through the IAM Credentials API, the permission table, and Terraform's template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import google.auth.exceptions
import pytest
from clarity_delivery import _state as st
from clarity_delivery._auth import GoogleIdTokens, load_credentials, refresh_failure
from clarity_delivery._errors import (
    ConfigError,
    CredentialsError,
    PermissionDenied,
    ServiceUnreachable,
)
from clarity_delivery.permissions import NEEDED, ROLE_PERMISSIONS, granted_by, role_for
from google.cloud import run_v2

from tests.doubles.iam import Grant, IamPolicy
from tests.doubles.oauth import TokenEndpoint

pytestmark = pytest.mark.unit

DEPLOYER = "deployer@clarity-test.iam.gserviceaccount.com"
PERSON = "person@clarity-test.iam.gserviceaccount.com"
AUDIENCE = "https://api.clarity-test.clarity.internal"
CAN_MINT = Grant(
    f"serviceAccount:{PERSON}",
    "roles/iam.serviceAccountOpenIdTokenCreator",
    f"projects/clarity-test/serviceAccounts/{DEPLOYER}",
)


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    started = TokenEndpoint().start()
    started.policy = IamPolicy({CAN_MINT})
    yield started
    started.stop()


def _tokens(endpoint: TokenEndpoint, tmp_path: Path) -> GoogleIdTokens:
    key = load_credentials(endpoint.write_credentials(tmp_path / "person.json", PERSON))
    return GoogleIdTokens(key, impersonate=DEPLOYER, iam_endpoint=endpoint.url)


def test_impersonated_id_tokens_come_from_generate_id_token(
    endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    tokens = _tokens(endpoint, tmp_path)
    token = tokens.token(AUDIENCE)
    assert tokens.token(AUDIENCE) == token  # cached until shortly before it expires
    claims = endpoint.verify_id_token(token)
    assert (claims["aud"], claims["email"]) == (AUDIENCE, DEPLOYER)
    assert [i["via"] for i in endpoint.issued if i.get("audience") == AUDIENCE] == [
        "generateIdToken"
    ]


def test_a_refused_generate_id_token_names_the_permission_and_the_role(
    endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    endpoint.policy = IamPolicy(set())
    with pytest.raises(PermissionDenied) as caught:
        _tokens(endpoint, tmp_path).token(AUDIENCE)
    message = caught.value.message
    assert "lacks permission iam.serviceAccounts.getOpenIdToken on " + DEPLOYER in message
    assert "roles/iam.serviceAccountOpenIdTokenCreator" in message
    assert caught.value.exit_code == 4


def test_an_unreachable_iam_credentials_api_is_a_clear_error(
    endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    key = load_credentials(endpoint.write_credentials(tmp_path / "person.json", PERSON))
    tokens = GoogleIdTokens(key, impersonate=DEPLOYER, iam_endpoint="http://127.0.0.1:9")
    with pytest.raises(ServiceUnreachable, match=r"IAM Credentials API at http://127\.0\.0\.1:9"):
        tokens.token(AUDIENCE)


def test_refresh_failures_that_name_a_permission_are_permission_errors() -> None:
    body = json.dumps(
        {"error": {"message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource"}}
    )
    refused = google.auth.exceptions.RefreshError(
        "Unable to acquire impersonated credentials", body
    )
    mapped = refresh_failure(refused, "read service x")
    assert isinstance(mapped, PermissionDenied)
    assert "roles/iam.workloadIdentityUser" in mapped.message
    plain = refresh_failure(google.auth.exceptions.RefreshError("invalid_grant"), "read service x")
    assert isinstance(plain, CredentialsError)
    assert not isinstance(plain, PermissionDenied)


def test_every_needed_permission_is_granted_by_the_role_the_messages_name() -> None:
    for permission, need in NEEDED.items():
        assert permission in granted_by(need.role), (permission, need.role)
        assert need.role in role_for(permission)
    # Cloud Run spells actAs in lower case in its errors.
    assert role_for("iam.serviceaccounts.actAs").startswith("roles/iam.serviceAccountUser")
    assert all(role.startswith("roles/") for role in ROLE_PERMISSIONS)
    # The table never lets a read-only role write or invoke.
    assert not granted_by("roles/run.viewer") & {"run.services.update", "run.routes.invoke"}
    assert "run.routes.invoke" not in granted_by("roles/run.developer")


def test_terraforms_template_annotation_is_read_strictly() -> None:
    service = run_v2.Service(name="projects/p/locations/r/services/api", uri="https://api.run")
    assert st.desired_template(service) is None
    assert st.audience_of(service) == "https://api.run"
    wanted = {"serviceAccount": "api@p.iam.gserviceaccount.com", "scaling": {"maxInstanceCount": 3}}
    service.annotations[st.TEMPLATE_ANNOTATION] = json.dumps(wanted)
    desired = st.desired_template(service)
    assert desired is not None
    assert (desired.service_account, desired.scaling.max_instance_count) == (
        wanted["serviceAccount"],
        3,
    )
    service.annotations[st.TEMPLATE_ANNOTATION] = json.dumps({"serviceAcount": "typo"})
    with pytest.raises(ConfigError, match="not a Cloud Run revision template"):
        st.desired_template(service)
    service.custom_audiences = ["https://api.p.clarity.internal", "other"]
    assert st.audience_of(service) == "https://api.p.clarity.internal"
