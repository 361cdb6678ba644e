"""Where images come from, in plain Python: who must sign, whose signatures count, which
environments build and which only promote."""

from __future__ import annotations

import pytest
from clarity._errors import InputError
from clarity._provenance import (
    GITHUB_ISSUER,
    check_builds_here,
    check_identity_arguments,
    expected_signer,
    promotion_origin,
    signing_required,
)
from clarity._publishing import deploy_signing, github_request, signing_identity
from dagger import dag

pytestmark = pytest.mark.dagger

# Secrets are only passed through here, never resolved: lazy queries stand in for them.
KEY = dag.set_secret("key", "k")
TOKEN = dag.set_secret("token", "t")
URL = dag.set_secret("url", "u")


def test_keyless_signatures_count_only_from_cd_on_main_of_the_repository() -> None:
    signer = expected_signer("staging", repository="clarity-loop/backend", public_key=False)
    identity = "https://github.com/clarity-loop/backend/.github/workflows/cd.yml@refs/heads/main"
    assert signer.arguments("/k") == [
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        GITHUB_ISSUER,
    ]
    assert signer.describe() == f"{identity} (issuer {GITHUB_ISSUER})"
    keyed = expected_signer("staging", repository=None, public_key=True)
    assert keyed.arguments("/run/cosign/cosign.pub") == ["--key", "/run/cosign/cosign.pub"]
    assert keyed.describe() == "the given cosign public key"


@pytest.mark.parametrize(
    ("source", "repository", "public_key", "message"),
    [
        ("staging", None, False, "pass exactly one of --signer-repository"),
        ("staging", "o/r", True, "pass exactly one of --signer-repository"),
        ("staging", "o/r/x", False, "invalid --signer-repository 'o/r/x'"),
        ("staging", "-o/r", False, "invalid --signer-repository"),
        ("prod", "o/r", False, "prod's deploy signs nothing"),
    ],
)
def test_the_expected_signer_is_exactly_one_valid_identity(
    source: str, repository: str | None, public_key: bool, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        expected_signer(source, repository=repository, public_key=public_key)


def test_only_staging_must_sign_and_only_prod_is_promoted() -> None:
    assert [env for env in ("dev", "staging", "prod") if signing_required(env)] == ["staging"]
    check_builds_here("dev", "publish")
    check_builds_here("staging", "publish")
    with pytest.raises(InputError, match="dagger call promote --from staging --to prod"):
        check_builds_here("prod", "publish")
    assert promotion_origin("prod", "staging") == "staging"
    with pytest.raises(InputError, match="not deployed by promotion"):
        promotion_origin("dev", "staging")


def test_signing_needs_exactly_one_identity_and_both_halves_of_githubs_request() -> None:
    assert github_request(None, None) is None
    assert github_request(TOKEN, URL) == (TOKEN, URL)
    for half in ((TOKEN, None), (None, URL)):
        with pytest.raises(InputError, match="needs both --oidc-request-token"):
            github_request(*half)
    with pytest.raises(InputError, match="pass exactly one way to sign"):
        signing_identity(None, None, None)
    with pytest.raises(InputError, match="pass exactly one way to sign"):
        signing_identity(KEY, None, TOKEN)
    arguments, _ = signing_identity(None, None, None, (TOKEN, URL))
    assert arguments == [], "cosign finds GitHub's provider by its variables"
    assert signing_identity(None, None, TOKEN)[0] == ["--identity-token", "/run/secrets/oidc-token"]


def test_deploy_signs_where_it_must_and_where_it_is_asked_to() -> None:
    assert deploy_signing("dev", None, None, None, dry_run=False) is None
    assert deploy_signing("staging", None, None, None, dry_run=True) is None
    with pytest.raises(InputError, match="deploy --env staging signs what it publishes"):
        deploy_signing("staging", None, None, None, dry_run=False)
    signing = deploy_signing("dev", KEY, None, None, dry_run=False)
    assert signing is not None
    assert signing[0] == ["--key", "/run/secrets/cosign.key"]


def test_deploy_refuses_identity_flags_it_would_not_use() -> None:
    signing = {"--key": True, "--oidc-request-token": False, "--signer-repository": False}
    check_identity_arguments("staging", signing)
    check_identity_arguments("prod", {"--key": False, "--signer-repository": True})
    with pytest.raises(InputError, match=r"deploy --env prod signs nothing: .* Drop --key; pass"):
        check_identity_arguments("prod", signing)
    with pytest.raises(
        InputError,
        match=r"deploy --env dev builds and signs; it verifies no signature\. Drop "
        r"--public-key, --signer-repository \(",
    ):
        check_identity_arguments(
            "dev", {"--public-key": True, "--signer-repository": True, "--key": True}
        )
