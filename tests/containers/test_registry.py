"""Push both images to a local registry and pull them back by digest.

Debian's docker-registry stands in for Artifact Registry: the push reports a digest, the
registry serves the manifest under that digest, and after the local image is deleted a pull
by digest restores exactly the same image id.
"""

from __future__ import annotations

import hashlib
import re
import secrets

import pytest

from tests.support.docker import SERVICES, BuildResult, DockerEngine, LocalRegistry, Service

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_push_and_pull_by_digest_round_trip(
    docker_engine: DockerEngine,
    service_images: dict[str, BuildResult],
    local_registry: LocalRegistry,
    service: Service,
) -> None:
    # A label makes an image id that only this test holds, so deleting it really deletes it
    # (an identical build by another session on a shared daemon would have the same id).
    nonce = secrets.token_hex(8)
    repository = f"clarity/{service.name}"
    remote_tag = f"{local_registry.address}/{repository}:{nonce}"
    dockerfile = (
        f"FROM {service_images[service.name].tag}\nLABEL org.clarity-loop.test-nonce={nonce}\n"
    )
    docker_engine.run("build", "--quiet", "--tag", remote_tag, "-", stdin=dockerfile.encode())
    original_id = docker_engine.image_id(remote_tag)

    pushed = docker_engine.run("push", remote_tag).stdout
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed)
    assert match is not None, pushed
    digest = match[1]
    assert local_registry.manifest_digest(repository, nonce) == digest
    manifest = local_registry.manifest(repository, digest)
    assert manifest["config"]["digest"] == original_id
    for blob in [manifest["config"], *manifest["layers"]]:
        content = local_registry.blob(repository, blob["digest"])
        assert f"sha256:{hashlib.sha256(content).hexdigest()}" == blob["digest"]
        assert len(content) == blob["size"]

    docker_engine.run("image", "rm", remote_tag)
    assert not docker_engine.image_exists(original_id)
    by_digest = f"{local_registry.address}/{repository}@{digest}"
    docker_engine.run("pull", by_digest)
    try:
        assert docker_engine.image_id(by_digest) == original_id
    finally:
        docker_engine.run("image", "rm", by_digest, check=False)
