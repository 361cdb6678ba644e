"""Session fixtures of the containers tier: the engine, local base images, built service images.

The first test that needs an image pays for the builds (a cold run also installs docker.io
and runs debootstrap, about a minute); every later test reuses them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.docker import (
    APT_PACKAGES,
    SERVICES,
    BuildResult,
    DockerEngine,
    LocalRegistry,
    build_base_image,
    build_service_image,
    build_uv_image,
    default_ca_bundle,
    ensure_apt_packages,
    start_engine,
    start_registry,
)


@dataclass(frozen=True)
class LocalImages:
    """Locally built stand-ins for the pinned base (python) and uv images."""

    base: str
    uv: str


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A Docker daemon: the running one, or dockerd started (and stopped) by this session."""
    # Everything the tier uses from apt in one install (one `apt-get update`).
    ensure_apt_packages(list(APT_PACKAGES))
    engine = start_engine(tmp_path_factory.mktemp("docker-engine"))
    try:
        yield engine
    finally:
        if engine.owned:
            # Rebuilt tags leave their previous images dangling in the kept data root.
            engine.run("image", "prune", "--force", check=False)
        engine.stop()


@pytest.fixture(scope="session")
def local_images(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> LocalImages:
    """The debootstrap base image and the uv image (cached by tag between runs)."""
    workdir = tmp_path_factory.mktemp("local-images")
    return LocalImages(
        base=build_base_image(docker_engine, workdir), uv=build_uv_image(docker_engine, workdir)
    )


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
