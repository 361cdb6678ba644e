"""Images to Artifact Registry, and their signatures and SBOM attestations (cosign).

Signing runs in cosign's own image (as its nonroot user, so everything it reads is mounted
for that user), with registry credentials in a Docker config file: keyless in GitHub
Actions (cosign asks GitHub for the job's OIDC token itself, with the request token and URL
the job holds, handed over as secret variables), with a keyless token file, or with a key.
Verification (what a promotion does first) checks each digest's signature and its CycloneDX
attestation against exactly one expected identity (``_provenance``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast

import anyio
import dagger
from dagger import dag

from clarity._caching import every_call
from clarity._errors import InputError
from clarity._google import REGISTRY_USERNAME, access_token, docker_config
from clarity._images import COSIGN
from clarity._provenance import (
    GITHUB_REQUEST_TOKEN,
    GITHUB_REQUEST_URL,
    ExpectedSigner,
    signing_required,
)
from clarity._scans import image, sbom
from clarity._settings import (
    SERVICES,
    EnvironmentSettings,
    image_address,
    pinned_address,
    registry_host,
    service_of,
)
from clarity._workspace import OWNER_ONLY, Step

__all__ = [
    "GitHubRequest",
    "SigningIdentity",
    "deploy_signing",
    "github_request",
    "mint_access_token",
    "publish_images",
    "sign_images",
    "signing_identity",
    "verify_images",
]

_COSIGN_USER: Final = "65532"  # the nonroot user of the cosign image
_KEY: Final = "/run/secrets/cosign.key"
_PUBLIC_KEY: Final = "/run/cosign/cosign.pub"
_OIDC_TOKEN: Final = "/run/secrets/oidc-token"  # noqa: S105 - a path, not a token
_ONE_SIGNING_IDENTITY: Final = (
    "pass exactly one way to sign: --key (a cosign private key), --identity-token (an OIDC "
    "token for keyless signing) or, in GitHub Actions, --oidc-request-token with "
    "--oidc-request-url (env://ACTIONS_ID_TOKEN_REQUEST_TOKEN, env://ACTIONS_ID_TOKEN_REQUEST_URL)"
)

SigningIdentity = tuple[list[str], Step]
"""cosign's identity arguments, and the step that mounts or sets what they need."""
GitHubRequest = tuple[dagger.Secret, dagger.Secret]
"""The job's OIDC request token and URL (GitHub Actions with ``id-token: write``)."""


async def mint_access_token(credentials: dagger.Secret) -> str:
    """A Google access token from the credentials Secret, minted in this process."""
    plaintext = await credentials.plaintext()
    return await anyio.to_thread.run_sync(lambda: access_token(plaintext))


async def publish_images(
    source: dagger.Directory,
    settings: EnvironmentSettings,
    credentials: dagger.Secret,
    version: str,
) -> dict[str, str]:
    """Push every service's image; return service -> digest reference."""
    token = dag.set_secret("clarity-registry-token", await mint_access_token(credentials))
    pushed: dict[str, str] = {}

    async def push(service: str) -> None:
        address = image_address(settings, service, version)
        published = await (
            image(source, service)
            .with_registry_auth(address, REGISTRY_USERNAME, token)
            .publish(address)
        )
        pushed[service] = pinned_address(published)

    async with anyio.create_task_group() as group:
        for service in SERVICES:
            group.start_soon(push, service)
    return pushed


def signing_identity(
    key: dagger.Secret | None,
    key_password: dagger.Secret | None,
    identity_token: dagger.Secret | None,
    github: GitHubRequest | None = None,
) -> SigningIdentity:
    """cosign's identity arguments and the step that mounts what they name."""
    given = [each is not None for each in (key, identity_token, github)]
    if sum(given) != 1:
        raise InputError(_ONE_SIGNING_IDENTITY)
    if key is not None:

        def with_key(signer: dagger.Container) -> dagger.Container:
            signer = signer.with_mounted_secret(_KEY, key, owner=_COSIGN_USER, mode=OWNER_ONLY)
            if key_password is not None:
                signer = signer.with_secret_variable("COSIGN_PASSWORD", key_password)
            return signer

        return ["--key", _KEY], with_key
    if github is not None:
        token, url = github

        def with_request(signer: dagger.Container) -> dagger.Container:
            return signer.with_secret_variable(GITHUB_REQUEST_TOKEN, token).with_secret_variable(
                GITHUB_REQUEST_URL, url
            )

        return [], with_request

    token_file = cast("dagger.Secret", identity_token)  # the one given: checked above

    def with_token(signer: dagger.Container) -> dagger.Container:
        return signer.with_mounted_secret(
            _OIDC_TOKEN, token_file, owner=_COSIGN_USER, mode=OWNER_ONLY
        )

    return ["--identity-token", _OIDC_TOKEN], with_token


def github_request(token: dagger.Secret | None, url: dagger.Secret | None) -> GitHubRequest | None:
    """The job's OIDC request pair, or None; one without the other is an :class:`InputError`."""
    if token is None and url is None:
        return None
    if token is None or url is None:
        msg = (
            "keyless signing in GitHub Actions needs both --oidc-request-token "
            "env://ACTIONS_ID_TOKEN_REQUEST_TOKEN and --oidc-request-url "
            "env://ACTIONS_ID_TOKEN_REQUEST_URL (the job needs permissions: id-token: write)"
        )
        raise InputError(msg)
    return token, url


def deploy_signing(
    env: str,
    key: dagger.Secret | None,
    key_password: dagger.Secret | None,
    github: GitHubRequest | None,
    *,
    dry_run: bool,
) -> SigningIdentity | None:
    """How ``deploy`` signs what it publishes in ``env``; None: it does not sign (dev).

    An environment whose digests are promoted (staging) must sign them: prod verifies them.
    """
    if key is None and github is None:
        if signing_required(env) and not dry_run:
            msg = (
                f"deploy --env {env} signs what it publishes (prod promotes only signed "
                "digests): pass --oidc-request-token and --oidc-request-url in GitHub Actions, "
                "or --key elsewhere"
            )
            raise InputError(msg)
        return None
    return signing_identity(key, key_password, None, github)


async def _cosign(settings: EnvironmentSettings, credentials: dagger.Secret) -> dagger.Container:
    """cosign as its nonroot user, logged in to the environment's registry."""
    token = await mint_access_token(credentials)
    config = dag.set_secret(
        f"clarity-cosign-docker-config-{settings.environment}",
        docker_config(registry_host(settings.region), token),
    )
    return (
        dag.container()
        .from_(COSIGN.address)
        .with_user(_COSIGN_USER)
        .with_env_variable("DOCKER_CONFIG", "/run/docker")
        .with_mounted_secret("/run/docker/config.json", config, owner=_COSIGN_USER, mode=OWNER_ONLY)
    )


async def sign_images(
    source: dagger.Directory,
    settings: EnvironmentSettings,
    credentials: dagger.Secret,
    references: Sequence[str],
    identity: SigningIdentity,
) -> list[str]:
    """Sign each digest and attach its image's SBOM as a CycloneDX attestation."""
    arguments, with_identity = identity
    signer = (await _cosign(settings, credentials)).with_(with_identity)
    lines = []
    for reference in references:
        service = service_of(reference)
        predicate = f"/sbom/{service}.cdx.json"
        attest = ["--type", "cyclonedx", "--predicate", predicate, reference]
        await (
            signer.with_mounted_file(predicate, sbom(source, service), owner=_COSIGN_USER)
            # Signing writes to the registry: it must happen on every call.
            .with_(every_call)
            .with_exec(["cosign", "sign", "--yes", *arguments, reference])
            .with_exec(["cosign", "attest", "--yes", *arguments, *attest])
            .sync()
        )
        lines.append(f"signed and attested {reference}")
    return lines


async def verify_images(
    settings: EnvironmentSettings,
    credentials: dagger.Secret,
    references: Sequence[str],
    signer: ExpectedSigner,
    public_key: dagger.File | None,
) -> list[str]:
    """Verify each digest's signature and SBOM attestation were made by ``signer``; fail if not."""
    verifier = await _cosign(settings, credentials)
    if public_key is not None:
        verifier = verifier.with_mounted_file(_PUBLIC_KEY, public_key, owner=_COSIGN_USER)
    arguments = signer.arguments(_PUBLIC_KEY)
    lines = []
    for reference in references:
        # A live read of the registry: never an earlier call's verdict from the cache.
        await (
            verifier.with_(every_call)
            .with_exec(["cosign", "verify", *arguments, reference])
            .with_exec(
                ["cosign", "verify-attestation", "--type", "cyclonedx", *arguments, reference]
            )
            .sync()
        )
        lines.append(f"verified the signature and SBOM attestation of {reference}")
    return lines
