"""Images to Artifact Registry, and their signatures and SBOM attestations (cosign)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import anyio
import dagger
from dagger import dag

from clarity._caching import every_call
from clarity._errors import InputError
from clarity._google import REGISTRY_USERNAME, access_token, docker_config
from clarity._images import COSIGN
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

__all__ = ["mint_access_token", "publish_images", "sign_images", "signing_identity"]

_COSIGN_USER: Final = "65532"  # the nonroot user of the cosign image
_KEY: Final = "/run/secrets/cosign.key"
_OIDC_TOKEN: Final = "/run/secrets/oidc-token"  # noqa: S105 - a path, not a token
_ONE_SIGNING_IDENTITY: Final = (
    "pass exactly one of --key (a cosign private key) or --identity-token (keyless signing)"
)


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
) -> tuple[list[str], Step]:
    """cosign's identity arguments and the step that mounts what they name."""
    if key is not None and identity_token is None:

        def with_key(signer: dagger.Container) -> dagger.Container:
            signer = signer.with_mounted_secret(_KEY, key, owner=_COSIGN_USER, mode=OWNER_ONLY)
            if key_password is not None:
                signer = signer.with_secret_variable("COSIGN_PASSWORD", key_password)
            return signer

        return ["--key", _KEY], with_key
    if identity_token is not None and key is None:

        def with_token(signer: dagger.Container) -> dagger.Container:
            return signer.with_mounted_secret(
                _OIDC_TOKEN, identity_token, owner=_COSIGN_USER, mode=OWNER_ONLY
            )

        return ["--identity-token", _OIDC_TOKEN], with_token
    raise InputError(_ONE_SIGNING_IDENTITY)


async def sign_images(
    source: dagger.Directory,
    settings: EnvironmentSettings,
    credentials: dagger.Secret,
    references: Sequence[str],
    identity: tuple[list[str], Step],
) -> list[str]:
    """Sign each digest and attach its image's SBOM as a CycloneDX attestation."""
    arguments, with_identity = identity
    token = await mint_access_token(credentials)
    config = dag.set_secret(
        "clarity-cosign-docker-config", docker_config(registry_host(settings.region), token)
    )
    signer = (
        dag.container()
        .from_(COSIGN.address)
        .with_user(_COSIGN_USER)
        .with_env_variable("DOCKER_CONFIG", "/run/docker")
        .with_mounted_secret("/run/docker/config.json", config, owner=_COSIGN_USER, mode=OWNER_ONLY)
        .with_(with_identity)
    )
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
