"""IAM and ID tokens in the doubles: the Admin API and the service URLs enforce a policy, and
the token endpoints mint only what IAM allows, through google-auth's own credential code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.api_core import exceptions
from google.auth import exceptions as auth_exceptions
from google.auth import identity_pool, impersonated_credentials
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import run_v2
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google.protobuf import field_mask_pb2

from tests.doubles.cloud_run import CloudRunDouble, fixture_app_command
from tests.doubles.iam import Grant, IamPolicy, TokenAuthority, WorkloadIdentityProvider
from tests.doubles.oauth import TokenEndpoint
from tests.doubles_tests.helpers import FAST_POLL, PARENT, bearer, target, template

pytestmark = pytest.mark.delivery

PROJECT = "projects/clarity-test"
SERVICE = f"{PARENT}/services/api-gateway"
DEPLOYER = "deployer@clarity-test.iam.gserviceaccount.com"
ADMIN = "admin@clarity-test.iam.gserviceaccount.com"
RUNTIME = "api-gateway@clarity-test.iam.gserviceaccount.com"
AUDIENCE = "https://api-gateway.clarity-test.clarity.internal"
PROVIDER = WorkloadIdentityProvider(
    pool="projects/123456789012/locations/global/workloadIdentityPools/github",
    provider_id="github-actions",
    repository_id="812345678",
    owner_id="98765432",
)
GITHUB_MAIN = f"principalSet://iam.googleapis.com/{PROVIDER.pool}/attribute.repository_ref/812345678@refs/heads/main"


def _sa(email: str) -> str:
    return f"serviceAccount:{email}"


BASE = IamPolicy(
    {
        Grant(_sa(ADMIN), "roles/run.admin", PROJECT),
        Grant(_sa(ADMIN), "roles/iam.serviceAccountUser", f"{PROJECT}/serviceAccounts/{RUNTIME}"),
        Grant(_sa(DEPLOYER), "roles/run.developer", PROJECT),
        Grant(
            _sa(DEPLOYER), "roles/iam.serviceAccountUser", f"{PROJECT}/serviceAccounts/{RUNTIME}"
        ),
        Grant(_sa(DEPLOYER), "roles/run.invoker", SERVICE),
        Grant(
            _sa(DEPLOYER),
            "roles/iam.serviceAccountOpenIdTokenCreator",
            f"{PROJECT}/serviceAccounts/{DEPLOYER}",
        ),
        Grant(
            GITHUB_MAIN, "roles/iam.workloadIdentityUser", f"{PROJECT}/serviceAccounts/{DEPLOYER}"
        ),
    }
)


@pytest.fixture
def identity() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint().start()
    endpoint.policy = BASE
    endpoint.add_provider(PROVIDER)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def guarded(tmp_path: Path, identity: TokenEndpoint) -> Iterator[CloudRunDouble]:
    with CloudRunDouble(
        tmp_path / "double",
        operation_delay=0.05,
        ready_timeout=10,
        image_command=fixture_app_command,
        identity=identity,
    ) as double:
        yield double


def _client(
    double: CloudRunDouble, credentials: service_account.Credentials
) -> run_v2.ServicesClient:
    return run_v2.ServicesClient(
        transport="rest", credentials=credentials, client_options={"api_endpoint": double.endpoint}
    )


def _key(identity: TokenEndpoint, tmp_path: Path, email: str) -> service_account.Credentials:
    path = identity.write_credentials(tmp_path / f"{email.partition('@')[0]}.json", email)
    credentials: service_account.Credentials = (
        service_account.Credentials.from_service_account_file(
            str(path), scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    )
    return credentials


def _create(client: run_v2.ServicesClient, **service: object) -> run_v2.Service:
    body = run_v2.Service(template=template(), **service)
    body.template.service_account = RUNTIME
    created: run_v2.Service = client.create_service(
        parent=PARENT, service_id="api-gateway", service=body
    ).result(timeout=30, polling=FAST_POLL)
    return created


def test_admin_api_needs_a_token_and_the_rpc_permission(
    guarded: CloudRunDouble, identity: TokenEndpoint, tmp_path: Path
) -> None:
    for headers in ({}, {"Authorization": "Bearer ya29.made-up"}):
        answer = httpx.get(f"{guarded.endpoint}/v2/{SERVICE}", headers=headers, timeout=5)
        assert (answer.status_code, answer.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    admin = _client(guarded, _key(identity, tmp_path, ADMIN))
    service = _create(admin)
    identity.policy = BASE.without(Grant(_sa(DEPLOYER), "roles/run.developer", PROJECT))
    deployer = _client(guarded, _key(identity, tmp_path, DEPLOYER))
    with pytest.raises(exceptions.Forbidden) as caught:
        deployer.get_service(name=service.name, retry=None)
    assert caught.value.metadata == {"permission": "run.services.get", "resource": service.name}
    identity.policy = BASE
    assert deployer.get_service(name=service.name).etag


def test_writing_a_template_needs_act_as_on_its_service_account(
    guarded: CloudRunDouble, identity: TokenEndpoint, tmp_path: Path
) -> None:
    service = _create(_client(guarded, _key(identity, tmp_path, ADMIN)))
    identity.policy = BASE.without(
        Grant(_sa(DEPLOYER), "roles/iam.serviceAccountUser", f"{PROJECT}/serviceAccounts/{RUNTIME}")
    )
    deployer = _client(guarded, _key(identity, tmp_path, DEPLOYER))
    current = deployer.get_service(name=service.name)
    current.template.revision = "api-gateway-next"
    with pytest.raises(exceptions.Forbidden, match=r"iam\.serviceaccounts\.actAs"):
        deployer.update_service(
            service=current, update_mask=field_mask_pb2.FieldMask(paths=["template"])
        )
    # Moving traffic or annotations writes no template: no runtime identity is attached.
    current = deployer.get_service(name=service.name)
    current.annotations["clarity.dev/x"] = "y"
    deployer.update_service(
        service=current, update_mask=field_mask_pb2.FieldMask(paths=["annotations"])
    ).result(timeout=30, polling=FAST_POLL)


def _id_token(identity: TokenEndpoint, tmp_path: Path, email: str, audience: str) -> str:
    path = identity.write_credentials(tmp_path / "probe.json", email)
    creds = service_account.IDTokenCredentials.from_service_account_file(
        str(path), target_audience=audience
    )
    creds.refresh(Request())
    return str(creds.token)


def test_service_and_tag_urls_verify_signature_expiry_audience_and_invoker(
    guarded: CloudRunDouble, identity: TokenEndpoint, tmp_path: Path
) -> None:
    admin = _client(guarded, _key(identity, tmp_path, ADMIN))
    service = _create(admin, custom_audiences=[AUDIENCE])
    first = service.latest_created_revision.rsplit("/", 1)[-1]
    change = run_v2.Service(name=service.name, traffic=[target(first, 100, "stable")])
    admin.update_service(
        service=change, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
    ).result(timeout=30, polling=FAST_POLL)
    url, tag_url = str(service.uri), guarded.tag_urls("api-gateway")["stable"]

    def status(where: str, headers: dict[str, str]) -> int:
        return httpx.get(where + "/health", headers=headers, timeout=5).status_code

    custom = {"Authorization": f"Bearer {_id_token(identity, tmp_path, DEPLOYER, AUDIENCE)}"}
    own = {"Authorization": f"Bearer {_id_token(identity, tmp_path, DEPLOYER, url)}"}
    assert (status(url, custom), status(tag_url, custom), status(tag_url, own)) == (200, 200, 200)
    wrong = {"Authorization": f"Bearer {_id_token(identity, tmp_path, DEPLOYER, tag_url)}"}
    expired = identity.authority.mint_id_token(DEPLOYER, AUDIENCE, lifetime=-60)
    forged = TokenAuthority().mint_id_token(DEPLOYER, AUDIENCE)  # another signing key
    assert status(tag_url, wrong) == 401  # the tag URL is not an accepted audience
    assert status(tag_url, {"Authorization": f"Bearer {expired}"}) == 401
    assert status(tag_url, {"Authorization": f"Bearer {forged}"}) == 401
    assert status(tag_url, bearer(AUDIENCE)) == 401  # an unsigned JWT
    assert status(tag_url, {}) == 403
    outsider = {"Authorization": f"Bearer {_id_token(identity, tmp_path, ADMIN, AUDIENCE)}"}
    assert status(url, outsider) == 200  # run.admin invokes
    identity.policy = BASE.without(Grant(_sa(DEPLOYER), "roles/run.invoker", SERVICE))
    assert status(tag_url, custom) == 403
    assert [r.status for r in guarded.proxy_log][-1] == 403


def test_generate_id_token_needs_get_open_id_token_on_the_account(
    identity: TokenEndpoint, tmp_path: Path
) -> None:
    source = _key(identity, tmp_path, DEPLOYER)
    session = AuthorizedSession(source)
    url = f"{identity.url}/v1/projects/-/serviceAccounts/{DEPLOYER}:generateIdToken"
    answer = session.post(url, json={"audience": AUDIENCE, "includeEmail": True}, timeout=5)
    assert answer.status_code == 200
    claims = identity.verify_id_token(answer.json()["token"])
    assert (claims["aud"], claims["email"]) == (AUDIENCE, DEPLOYER)
    identity.policy = BASE.without(
        Grant(
            _sa(DEPLOYER),
            "roles/iam.serviceAccountOpenIdTokenCreator",
            f"{PROJECT}/serviceAccounts/{DEPLOYER}",
        )
    )
    denied = session.post(url, json={"audience": AUDIENCE}, timeout=5)
    assert denied.status_code == 403
    error = denied.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["details"][0]["metadata"] == {"permission": "iam.serviceAccounts.getOpenIdToken"}


def test_a_users_refresh_token_stands_for_that_user_only(identity: TokenEndpoint) -> None:
    """An ``authorized_user`` file's refresh token gives access tokens of its user, which IAM
    then judges like any member's; an unknown refresh token is refused."""
    user = "user:operator@clarity.example"

    def user_file(refresh_token: str) -> user_credentials.Credentials:
        return user_credentials.Credentials(
            token=None,
            refresh_token=refresh_token,
            client_id="client.apps.googleusercontent.com",
            client_secret="local-secret",
            token_uri=identity.token_uri,
        )

    credentials = user_file(identity.refresh_token_for(user))
    credentials.refresh(Request())
    assert identity.caller(f"Bearer {credentials.token}") == {user}
    url = f"{identity.url}/v1/projects/-/serviceAccounts/{DEPLOYER}:generateIdToken"
    session = AuthorizedSession(credentials)
    assert session.post(url, json={"audience": AUDIENCE}, timeout=5).status_code == 403
    identity.policy = IamPolicy(
        BASE.grants
        | {
            Grant(
                user,
                "roles/iam.serviceAccountTokenCreator",
                f"{PROJECT}/serviceAccounts/{DEPLOYER}",
            )
        }
    )
    assert session.post(url, json={"audience": AUDIENCE}, timeout=5).status_code == 200

    unknown = user_file("1//never-issued")
    with pytest.raises(auth_exceptions.RefreshError, match="invalid_grant"):
        unknown.refresh(Request())


def test_workload_identity_federation_runs_through_google_auth(
    identity: TokenEndpoint, tmp_path: Path
) -> None:
    path = identity.write_workload_identity(
        tmp_path / "wif.json", provider=PROVIDER, service_account=DEPLOYER, ref="refs/heads/main"
    )
    creds = identity_pool.Credentials.from_info(
        json.loads(path.read_text()), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    creds.refresh(Request())  # GitHub token → STS → generateAccessToken as the deployer
    assert identity.caller(f"Bearer {creds.token}") == {_sa(DEPLOYER)}
    # A job on another ref is not the principal set Terraform trusts.
    other = identity.write_workload_identity(
        tmp_path / "pr.json", provider=PROVIDER, service_account=DEPLOYER, ref="refs/pull/1/merge"
    )
    refused = identity_pool.Credentials.from_info(
        json.loads(other.read_text()), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    with pytest.raises(
        auth_exceptions.RefreshError, match="Unable to acquire impersonated credentials"
    ):
        refused.refresh(Request())
    # google-auth's own impersonation path reaches the same endpoint.
    impersonated = impersonated_credentials.Credentials(
        source_credentials=_key(identity, tmp_path, ADMIN),
        target_principal=DEPLOYER,
        target_scopes=["https://www.googleapis.com/auth/cloud-platform"],
        iam_endpoint_override=f"{identity.url}/v1/projects/-/serviceAccounts/{DEPLOYER}:generateAccessToken",
    )
    with pytest.raises(
        auth_exceptions.RefreshError, match="Unable to acquire impersonated credentials"
    ):
        impersonated.refresh(Request())  # the admin holds no token creator role on the deployer


def test_warm_instances_follow_service_and_revision_minimums(
    guarded: CloudRunDouble, identity: TokenEndpoint, tmp_path: Path
) -> None:
    admin = _client(guarded, _key(identity, tmp_path, ADMIN))
    service = _create(admin, scaling=run_v2.ServiceScaling(min_instance_count=2))
    first = service.latest_created_revision.rsplit("/", 1)[-1]
    assert guarded.warm_instances("api-gateway") == {first: 2}
    current = admin.get_service(name=service.name)
    current.template = template(revision="api-gateway-second")
    current.template.service_account = RUNTIME
    current.traffic = [target(first, 100, "stable"), target("api-gateway-second", 0, "candidate")]
    admin.update_service(service=current).result(timeout=30, polling=FAST_POLL)
    # Tagged at 0 %: no share of the service-level minimum.
    assert guarded.warm_instances("api-gateway") == {first: 2}
    current = admin.get_service(name=service.name)
    current.traffic = [target(first, 50, "stable"), target("api-gateway-second", 50, "candidate")]
    admin.update_service(
        service=current, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
    ).result(timeout=30, polling=FAST_POLL)
    assert guarded.warm_instances("api-gateway") == {first: 1, "api-gateway-second": 1}
    revisions = {
        r.name.rsplit("/", 1)[-1]: r.scaling_status.desired_min_instance_count
        for r in run_v2.RevisionsClient(
            transport="rest",
            credentials=_key(identity, tmp_path, ADMIN),
            client_options={"api_endpoint": guarded.endpoint},
        ).list_revisions(parent=service.name)
    }
    assert revisions == {first: 1, "api-gateway-second": 1}
    # A revision-level minimum keeps instances of a revision a tag alone names.
    current = admin.get_service(name=service.name)
    current.template = template(revision="api-gateway-third")
    current.template.service_account = RUNTIME
    current.template.scaling = run_v2.RevisionScaling(min_instance_count=1)
    current.traffic = [target(first, 100, "stable"), target("api-gateway-third", 0, "blue")]
    admin.update_service(service=current).result(timeout=30, polling=FAST_POLL)
    assert guarded.warm_instances("api-gateway") == {first: 2, "api-gateway-third": 1}
