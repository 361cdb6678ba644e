"""Build once, sign, promote, against the engine double: staging builds, publishes and signs;
prod builds nothing, verifies exactly the identity that signed staging's digests and runs
those digests, copied; anything else is refused before prod's registry or services change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clarity._provenance import GITHUB_REQUEST_TOKEN, GITHUB_REQUEST_URL
from clarity._settings import SERVICES
from clarity.main import Environment

from tests.dagger.conftest import (
    ALERT_EMAIL,
    BILLING_ACCOUNT,
    CD_ON_MAIN,
    COMMIT,
    PROD_REPOSITORY,
    REQUEST_TOKEN,
    REQUEST_URL,
    STAGING_REPOSITORY,
    deploy_staging,
)
from tests.doubles.dagger_engine import DaggerCall, EngineDouble, SecretArg

pytestmark = [pytest.mark.dagger, pytest.mark.xdist_group("engine-double")]

SIGNER = "clarity-loop/backend"
PRIVATE_KEY = "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\nstaging\n"  # pragma: allowlist secret
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nstaging\n-----END PUBLIC KEY-----\n"


def _prod(credentials: SecretArg, **overrides: Any) -> dict[str, Any]:
    return {
        "env": Environment.prod,
        "credentials": credentials,
        "version": "1.4.0",
        "commit": COMMIT,
        "approve": True,
        "billing_account": BILLING_ACCOUNT,
        "alert_email": ALERT_EMAIL,
        "signer_repository": SIGNER,
        **overrides,
    }


def _staged_digests(engine: EngineDouble) -> dict[str, str]:
    return {s: engine.world.registry[f"{STAGING_REPOSITORY}/{s}:1.4.0"] for s in SERVICES}


def _prod_entries(engine: EngineDouble) -> dict[str, str]:
    return {a: d for a, d in engine.world.registry.items() if a.startswith(PROD_REPOSITORY)}


def test_staging_signs_keyless_with_the_jobs_own_oidc_request_never_in_argv(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    result = deploy_staging(dagger_call, engine, credentials)
    digests = _staged_digests(engine)
    for service, digest in digests.items():
        reference = f"{STAGING_REPOSITORY}/{service}@{digest}"
        for kind in ("sign", "attest"):
            assert engine.world.signed_by(kind, reference) == {
                f"{CD_ON_MAIN} https://token.actions.githubusercontent.com"
            }
    signing = [e for e in engine.world.ran("cosign") if e.argv[1] in ("sign", "attest")]
    assert len(signing) == 2 * len(SERVICES)
    for execution in signing:
        assert set(execution.secrets) == {GITHUB_REQUEST_TOKEN, GITHUB_REQUEST_URL}
        assert not any(REQUEST_TOKEN in a or REQUEST_URL in a for a in execution.argv)
        assert execution.user == "65532"
    (rollout,) = engine.world.rollouts
    images = {a.split("=", 1)[1] for a in rollout.argv if a.count("=") == 1 and "@" in a}
    assert images == {f"{STAGING_REPOSITORY}/{s}@{d}" for s, d in digests.items()}
    assert "signed and attested" in str(result.value)


def test_staging_refuses_to_publish_what_it_cannot_sign(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    result = dagger_call(
        "deploy",
        env=Environment.staging,
        credentials=credentials,
        commit=COMMIT,
        billing_account=BILLING_ACCOUNT,
        alert_email=ALERT_EMAIL,
    )
    assert not result.ok
    assert "deploy --env staging signs what it publishes" in str(result.error)
    assert engine.world.executions == [], "refused before anything was built"


def test_prod_builds_nothing_and_runs_the_very_digests_staging_verified(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    deploy_staging(dagger_call, engine, credentials)
    digests = _staged_digests(engine)
    before = len(engine.world.executions)
    result = dagger_call("deploy", **_prod(credentials))
    assert result.ok, result.text()
    ran = engine.world.executions[before:]
    assert not [e for e in ran if e.argv[0] == "trivy"], "nothing was scanned again"
    assert engine.world.registry.keys() - _prod_entries(engine).keys() == {
        f"{STAGING_REPOSITORY}/{s}:1.4.0" for s in SERVICES
    }, "nothing was published but the copies"
    # The order: staging's record, the signatures of exactly its digests, the copy, then prod.
    steps = [e.argv[1] for e in ran if e.argv[0] in ("clarity-deploy", "cosign")]
    assert steps == [
        "staged",
        *(["verify", "verify-attestation"] * len(SERVICES)),
        "promote",
        "deploy",
    ]
    # Planned before anything is copied (a failing plan leaves prod's registry untouched),
    # applied after.
    order = [(e.argv[0], e.argv[1] if e.argv[0] != "terraform" else e.argv[2]) for e in ran]
    promote = order.index(("clarity-deploy", "promote"))
    assert order.index(("terraform", "plan")) < promote < order.index(("terraform", "apply"))
    verified = [e.argv for e in ran if e.argv[:2] == ("cosign", "verify")]
    assert {argv[-1] for argv in verified} == {
        f"{STAGING_REPOSITORY}/{s}@{d}" for s, d in digests.items()
    }
    for argv in verified:
        assert argv[argv.index("--certificate-identity") + 1] == CD_ON_MAIN
        assert (
            argv[argv.index("--certificate-oidc-issuer") + 1]
            == "https://token.actions.githubusercontent.com"
        )
    rollout = engine.world.rollouts[-1]
    assert rollout.env == "prod"
    images = sorted(a.split("=", 1)[1] for a in rollout.argv if "@sha256:" in a)
    assert images == sorted(f"{PROD_REPOSITORY}/{s}@{d}" for s, d in digests.items())
    summary = str(result.value)
    assert "staging's rollout record `record-1` ran 1.4.0 (commit `0123456789ab`)" in summary
    assert f"verified for {CD_ON_MAIN}" in summary
    assert "## clarity-deploy deploy --env prod" in summary, "the rollout summary follows"
    for service, digest in digests.items():
        assert engine.world.signed_by("sign", f"{PROD_REPOSITORY}/{service}@{digest}"), (
            "the signatures came along with the copy"
        )


@pytest.mark.parametrize(
    ("identity", "signer"),
    [
        pytest.param(
            CD_ON_MAIN.replace("refs/heads/main", "refs/heads/develop"), SIGNER, id="other-ref"
        ),
        pytest.param(CD_ON_MAIN.replace("clarity-loop/backend", "fork/backend"), SIGNER, id="fork"),
        pytest.param(CD_ON_MAIN, "clarity-loop/other", id="other-repository-expected"),
    ],
)
def test_a_signature_by_any_other_identity_is_refused_and_prod_is_untouched(
    identity: str,
    signer: str,
    dagger_call: DaggerCall,
    engine: EngineDouble,
    credentials: SecretArg,
) -> None:
    deploy_staging(dagger_call, engine, credentials, identity=identity)
    rollouts = len(engine.world.rollouts)
    result = dagger_call("deploy", **_prod(credentials, signer_repository=signer))
    assert not result.ok
    assert "no matching signatures" in result.text()
    assert _prod_entries(engine) == {}, "nothing was copied into prod's registry"
    assert [r.command for r in engine.world.rollouts[rollouts:]] == ["staged"]


def test_a_version_staging_never_passed_is_refused_before_anything_is_verified(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    deploy_staging(dagger_call, engine, credentials)
    result = dagger_call("deploy", **_prod(credentials, version="1.5.0"))
    assert not result.ok
    assert "clarity-deploy staged failed (exit 2)" in str(result.error)
    assert "1.5.0 at 0123456789ab did not pass staging: never" in str(result.error)
    assert not [e for e in engine.world.ran("cosign") if e.argv[1].startswith("verify")]
    assert _prod_entries(engine) == {}


def test_a_cosign_key_works_outside_github_actions(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg, tmp_path: Path
) -> None:
    engine.world.cosign_key_pairs[PUBLIC_KEY] = PRIVATE_KEY
    deploy_staging(dagger_call, engine, credentials, key=SecretArg(PRIVATE_KEY, name="cosign-key"))
    public_key = tmp_path / "cosign.pub"
    public_key.write_text(PUBLIC_KEY)
    result = dagger_call(
        "deploy", **_prod(credentials, signer_repository=None, public_key=public_key)
    )
    assert result.ok, result.text()
    assert "verified for the given cosign public key" in str(result.value)
    other = tmp_path / "other.pub"
    other.write_text(PUBLIC_KEY.replace("staging", "other"))
    engine.world.cosign_key_pairs[other.read_text()] = "another private key"
    refused = dagger_call(
        "promote",
        **{"from": Environment.staging},
        to=Environment.prod,
        version="1.4.0",
        commit=COMMIT,
        credentials=credentials,
        public_key=other,
    )
    assert not refused.ok
    assert "no matching signatures" in refused.text()


def test_a_dry_run_verifies_and_plans_but_copies_nothing(
    dagger_call: DaggerCall, engine: EngineDouble, credentials: SecretArg
) -> None:
    deploy_staging(dagger_call, engine, credentials)
    result = dagger_call("deploy", **_prod(credentials, approve=False, dry_run=True))
    assert result.ok, result.text()
    assert "would be copied (dry run)" in str(result.value)
    assert _prod_entries(engine) == {}
    assert "--dry-run" in engine.world.rollouts[-1].argv


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            {"signer_repository": None},
            "pass exactly one of --signer-repository OWNER/NAME",
            id="no-expected-signer",
        ),
        pytest.param(
            {"signer_repository": "not a repository"},
            "invalid --signer-repository 'not a repository'",
            id="malformed-signer",
        ),
        pytest.param({"commit": None}, "deploy needs --commit", id="no-commit"),
        pytest.param(
            {"key": SecretArg(PRIVATE_KEY, name="cosign-key")},
            "deploy --env prod signs nothing",
            id="a-signing-key",
        ),
    ],
)
def test_prod_inputs_are_refused_before_any_container_runs(
    arguments: dict[str, Any],
    message: str,
    dagger_call: DaggerCall,
    engine: EngineDouble,
    credentials: SecretArg,
) -> None:
    result = dagger_call("deploy", **_prod(credentials, **arguments))
    assert not result.ok
    assert message in str(result.error)
    assert engine.world.executions == []


@pytest.mark.parametrize(
    ("function", "arguments", "message"),
    [
        pytest.param(
            "publish",
            {"env": Environment.prod, "version": "1.4.0"},
            "publish --env prod refused: prod runs only the digests staging verified",
            id="publish-to-prod",
        ),
        pytest.param(
            "promote",
            {
                "from": Environment.dev,
                "to": Environment.prod,
                "version": "1.4.0",
                "commit": COMMIT,
                "signer_repository": SIGNER,
            },
            "prod promotes only from staging, not from dev",
            id="promote-from-dev",
        ),
        pytest.param(
            "promote",
            {
                "from": Environment.dev,
                "to": Environment.staging,
                "version": "1.4.0",
                "commit": COMMIT,
                "signer_repository": SIGNER,
            },
            "staging is not deployed by promotion",
            id="promote-to-staging",
        ),
    ],
)
def test_nothing_reaches_prod_but_by_promotion(
    function: str,
    arguments: dict[str, Any],
    message: str,
    *,
    dagger_call: DaggerCall,
    engine: EngineDouble,
    credentials: SecretArg,
) -> None:
    result = dagger_call(function, credentials=credentials, **arguments)
    assert not result.ok
    assert message in str(result.error)
    assert engine.world.executions == []
