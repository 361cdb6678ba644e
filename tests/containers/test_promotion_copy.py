"""The promotion's copy by digest between two real registries, with images Docker pushed.

Two of Debian's docker-registry stand in for staging's and prod's Artifact Registry (two hosts,
so the blobs are streamed, each checked against its sha256 on the way); a third repository on
prod's host receives a copy by cross-repository mount. Docker then pulls prod's copy by
digest, after the local image is deleted, and gets exactly the image it pushed to staging.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from clarity_delivery.promotion import CopyReport, Registry

from tests.support.docker import DockerEngine, LocalRegistry, start_registry
from tests.support.local_images import LocalImages

pytestmark = [pytest.mark.containers, pytest.mark.timeout(600)]


@pytest.fixture
def prod_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    registry = start_registry(tmp_path / "prod-registry")
    try:
        yield registry
    finally:
        registry.stop()


def _push(docker: DockerEngine, base: str, reference: str, label: str) -> str:
    """Build a one-label image on ``base`` as ``reference``, push it; its digest."""
    dockerfile = f"FROM {base}\nLABEL org.clarity-loop.test={label}\n"
    docker.run("build", "--quiet", "--tag", reference, "-", stdin=dockerfile.encode())
    pushed = docker.run("push", reference).stdout
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed)
    assert match is not None, pushed
    return match[1]


def _copy(source: str, target: str, tags: tuple[str, ...]) -> CopyReport:
    async def run() -> CopyReport:
        async with Registry() as registry:
            return await registry.copy(source, target, tags=tags)

    return anyio.run(run)


def test_a_promoted_image_is_the_very_image_staging_ran(
    docker_engine: DockerEngine,
    local_images: LocalImages,
    local_registry: LocalRegistry,
    prod_registry: LocalRegistry,
) -> None:
    nonce = secrets.token_hex(8)
    staging = f"{local_registry.address}/staging/api-gateway"
    prod = f"{prod_registry.address}/prod/api-gateway"
    digest = _push(docker_engine, local_images.uv, f"{staging}:{nonce}", nonce)
    original_id = docker_engine.image_id(f"{staging}:{nonce}")
    # What cosign stores beside an image: an artifact tagged after the digest it signs.
    signature = digest.replace(":", "-") + ".sig"
    signature_digest = _push(
        docker_engine, local_images.uv, f"{staging}:{signature}", f"signature-{nonce}"
    )

    report = _copy(f"{staging}@{digest}", f"{prod}@{digest}", ("1.4.0",))
    assert report.uploaded > 0, "two hosts: every blob streamed"
    assert report.mounted == 0
    assert report.artifacts == [signature]
    repository = "prod/api-gateway"
    assert prod_registry.manifest_digest(repository, digest) == digest
    assert prod_registry.manifest_digest(repository, "1.4.0") == digest
    assert prod_registry.manifest_digest(repository, signature) == signature_digest

    again = _copy(f"{staging}@{digest}", f"{prod}@{digest}", ("1.4.0",))
    assert (again.uploaded, again.mounted) == (0, 0), "a second promotion finds it all there"
    assert again.present == report.uploaded + report.present
    mounted = _copy(f"{prod}@{digest}", f"{prod_registry.address}/mirror/api-gateway@{digest}", ())
    assert mounted.mounted > 0, "one host: blobs mounted across repositories, not sent again"
    assert mounted.uploaded == 0

    for tag in (f"{staging}:{nonce}", f"{staging}:{signature}"):
        docker_engine.run("image", "rm", tag)
    assert not docker_engine.image_exists(original_id)
    by_digest = f"{prod}@{digest}"
    docker_engine.run("pull", by_digest)
    try:
        assert docker_engine.image_id(by_digest) == original_id
    finally:
        docker_engine.run("image", "rm", by_digest, check=False)
