"""Session fixtures of the containers tier: the engine, local base images, built service images.

The host is prepared by ``make provision`` (Debian packages, the local base and uv images);
a fixture that finds something missing fails with a message that says to run it. The first
test that needs a service image pays for both builds; every later test reuses them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.docker import (
    SERVICES,
    BuildResult,
    DockerEngine,
    LocalRegistry,
    build_service_image,
    default_ca_bundle,
    start_engine,
    start_registry,
)
from tests.support.local_images import LocalImages, ensure_local_images


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A Docker daemon: the running one, or dockerd started (and stopped) by this session."""
    engine = start_engine(tmp_path_factory.mktemp("docker-engine"))
    try:
        yield engine
    finally:
        if engine.owned:
            # Rebuilt tags leave their previous images dangling in the kept data root.
            engine.run("image", "prune", "--force", check=False)
        engine.stop()


@pytest.fixture(scope="session")
def local_images(docker_engine: DockerEngine) -> LocalImages:
    """The debootstrap base image and the uv image that ``make provision`` prepared."""
    return ensure_local_images(docker_engine)


@pytest.fixture(scope="session")
def service_images(
    docker_engine: DockerEngine, local_images: LocalImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, BuildResult]]:
    """Both service images built from docker/*/Dockerfile with the local images as build args."""
    logs = tmp_path_factory.mktemp("build-logs")
    # Tags unique to this session: a shared daemon may serve another session at the same time.
    suffix = f"session-{os.getpid()}"
    built: dict[str, BuildResult] = {}
    try:
        for service in SERVICES:
            built[service.name] = build_service_image(
                docker_engine,
                service,
                tag=f"clarity-test/{service.name}:{suffix}",
                base_image=local_images.base,
                uv_image=local_images.uv,
                ca_bundle=default_ca_bundle(),
                log_path=logs / f"{service.name}.log",
            )
        yield built
    finally:
        for result in built.values():
            docker_engine.run("image", "rm", result.tag, check=False)


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Debian's docker-registry on a free 127.0.0.1 port, storage in a temporary directory."""
    registry = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield registry
    finally:
        registry.stop()
