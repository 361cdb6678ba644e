"""Fixtures for running the module's functions against the engine double."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.dagger_engine import CallResult, DaggerCall, EngineDouble, SecretArg
from tests.doubles.dagger_engine._runtime import ModuleRuntime
from tests.doubles.oauth import TokenEndpoint

ROOT = Path(__file__).resolve().parents[2]
BILLING_ACCOUNT = "012345-6789AB-CDEF01"
ALERT_EMAIL = "oncall@example.com"
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # pragma: allowlist secret
STAGING_REPOSITORY = "us-central1-docker.pkg.dev/clarity-loop-staging/clarity"
PROD_REPOSITORY = "us-central1-docker.pkg.dev/clarity-loop-production/clarity"
REQUEST_TOKEN = "the-jobs-oidc-request-token"  # pragma: allowlist secret
REQUEST_URL = "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0"
CD_ON_MAIN = "https://github.com/clarity-loop/backend/.github/workflows/cd.yml@refs/heads/main"
#: Never copied into a repository fixture: environments, caches, VCS data, local artefacts.
# Not the repository's files: tool state, and what runs in progress write (coverage's data files
# of other test processes come and go while the copy is made).
_NOT_COPIED = (
    ".git",
    ".venv",
    ".tools",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "reports",
    ".coverage*",
    "build",
    "mutants",
)


@pytest.fixture(scope="session")
def module_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleRuntime]:
    """The module's runtime process (it imports the SDK and the module once per session)."""
    log = tmp_path_factory.mktemp("module-runtime") / "runtime.log"
    with ModuleRuntime(log) as runtime:
        yield runtime


@pytest.fixture
def engine() -> Iterator[EngineDouble]:
    """A fresh engine: empty caches, registry, states and journal."""
    with EngineDouble() as double:
        yield double


@pytest.fixture
def dagger_call(engine: EngineDouble, module_runtime: ModuleRuntime) -> DaggerCall:
    """``dagger call`` from the repository root against ``engine``."""
    return DaggerCall(engine, module_runtime)


@pytest.fixture(scope="session")
def token_endpoint() -> Iterator[TokenEndpoint]:
    """Google's token endpoint stand-in: the module mints registry tokens from it."""
    endpoint = TokenEndpoint().start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def credentials(token_endpoint: TokenEndpoint, tmp_path: Path) -> SecretArg:
    """``--credentials file:key.json`` with a service-account key the endpoint accepts."""
    key = token_endpoint.write_credentials(tmp_path / "key.json")
    return SecretArg(key.read_text(), name="credentials")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of the repository's files (no .git, no environments) to change freely."""
    copy = tmp_path / "repository"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*_NOT_COPIED, "__pycache__"))
    return copy


def publish_and_sign(
    dagger_call: DaggerCall, credentials: SecretArg
) -> tuple[CallResult, CallResult]:
    """``publish --env dev``, then ``sign`` what it printed with a cosign key."""
    from clarity.main import Environment  # noqa: PLC0415 - registers the module on import

    published = dagger_call(
        "publish", env=Environment.dev, credentials=credentials, version="1.4.0"
    )
    assert published.ok, published.text()
    signed = dagger_call(
        "sign",
        env=Environment.dev,
        credentials=credentials,
        references=published.value,
        key=SecretArg("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----", name="cosign-key"),
    )
    return published, signed


def deploy_staging(
    dagger_call: DaggerCall,
    engine: EngineDouble,
    credentials: SecretArg,
    *,
    identity: str = CD_ON_MAIN,
    **signing: object,
) -> CallResult:
    """``deploy --env staging`` of 1.4.0 at :data:`COMMIT`, signed keyless as ``identity``
    (cd.yml on main, unless a test says otherwise) or with the ``signing`` arguments given."""
    from clarity.main import Environment  # noqa: PLC0415 - registers the module on import

    if not signing:
        engine.world.github_identities[REQUEST_TOKEN] = identity
        signing = {
            "oidc_request_token": SecretArg(REQUEST_TOKEN, name="oidc-request-token"),
            "oidc_request_url": SecretArg(REQUEST_URL, name="oidc-request-url"),
        }
    result = dagger_call(
        "deploy",
        env=Environment.staging,
        credentials=credentials,
        version="1.4.0",
        commit=COMMIT,
        billing_account=BILLING_ACCOUNT,
        alert_email=ALERT_EMAIL,
        **signing,
    )
    assert result.ok, result.text()
    return result
