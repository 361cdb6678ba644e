"""Containers the functions share: the Python workspace, emulator services, credentials.

Each helper returns a lazy ``Container`` or a ``Container -> Container`` step for
``.with_()``; nothing here runs until a function awaits a result.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Final

import dagger
from dagger import dag

from clarity._images import EMULATORS, PYTHON, TOOL_VERSIONS

__all__ = [
    "CREDENTIALS",
    "OUT",
    "OWNER_ONLY",
    "PLATFORM",
    "REPORTS",
    "VENV",
    "WORKDIR",
    "Step",
    "emulator_services",
    "services_started",
    "with_credentials",
    "with_empty_directory",
    "with_emulators",
    "with_variables",
    "workspace",
]

VENV: Final = "/opt/venv"
WORKDIR: Final = "/src"
REPORTS: Final = "/reports"  # outside the source tree, so no tool scans its own reports
OUT: Final = "/out"
"""Where a step writes files a function returns; no tool image has it, so it is created."""
CREDENTIALS: Final = "/run/secrets/google-credentials.json"
PLATFORM: Final = dagger.Platform("linux/amd64")
OWNER_ONLY: Final = 0o400
_FIRESTORE_PORT: Final = 8080
_PUBSUB_PORT: Final = 8085

Step = Callable[[dagger.Container], dagger.Container]
"""A container step for ``Container.with_``."""


def with_variables(variables: Mapping[str, str]) -> Step:
    """Set environment variables as values, never through a shell."""

    def apply(container: dagger.Container) -> dagger.Container:
        for name, value in variables.items():
            container = container.with_env_variable(name, value)
        return container

    return apply


def with_empty_directory(path: str) -> Step:
    """Create ``path`` (and its parents) without running a command in the image."""

    def apply(container: dagger.Container) -> dagger.Container:
        return container.with_directory(path, dag.directory())

    return apply


def with_credentials(credentials: dagger.Secret) -> Step:
    """Google credentials as an owner-only file named by GOOGLE_APPLICATION_CREDENTIALS."""

    def apply(container: dagger.Container) -> dagger.Container:
        return container.with_mounted_secret(
            CREDENTIALS, credentials, mode=OWNER_ONLY
        ).with_env_variable("GOOGLE_APPLICATION_CREDENTIALS", CREDENTIALS)

    return apply


def workspace(source: dagger.Directory, *, system_packages: Sequence[str] = ()) -> dagger.Container:
    """Python with uv, the locked dependencies (cached) and the source at /src."""
    base = dag.container(platform=PLATFORM).from_(PYTHON.address)
    if system_packages:
        base = base.with_exec(["apt-get", "update", "-qq"]).with_exec(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *system_packages]
        )
    return (
        base.with_env_variable("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .with_mounted_cache("/root/.cache/pip", dag.cache_volume("clarity-pip"))
        .with_exec(["pip", "install", "--quiet", f"uv=={TOOL_VERSIONS['uv']}"])
        .with_mounted_cache("/root/.cache/uv", dag.cache_volume("clarity-uv"))
        .with_env_variable("UV_LINK_MODE", "copy")
        .with_env_variable("UV_PYTHON_DOWNLOADS", "never")
        .with_env_variable("UV_PROJECT_ENVIRONMENT", VENV)
        .with_env_variable("PATH", f"{VENV}/bin:${{PATH}}", expand=True)
        .with_workdir(WORKDIR)
        .with_file(f"{WORKDIR}/pyproject.toml", source.file("pyproject.toml"))
        .with_file(f"{WORKDIR}/uv.lock", source.file("uv.lock"))
        .with_exec(["uv", "sync", "--locked", "--no-install-project"])
        .with_directory(WORKDIR, source)
        .with_exec(["uv", "sync", "--locked"])
    )


def emulator_services() -> dict[str, dagger.Service]:
    """Google's Firestore and Pub/Sub emulators as services, by the alias they are bound as."""
    emulators = dag.container(platform=PLATFORM).from_(EMULATORS.address)
    return {
        "firestore": emulators.with_exposed_port(_FIRESTORE_PORT).as_service(
            args=[
                "gcloud",
                "emulators",
                "firestore",
                "start",
                f"--host-port=0.0.0.0:{_FIRESTORE_PORT}",
            ]
        ),
        "pubsub": emulators.with_exposed_port(_PUBSUB_PORT).as_service(
            args=[
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=0.0.0.0:{_PUBSUB_PORT}",
            ]
        ),
    }


def with_emulators(container: dagger.Container) -> dagger.Container:
    """Bind Google's Firestore and Pub/Sub emulators and point the client libraries at them."""
    services = emulator_services()
    return (
        container.with_service_binding("firestore", services["firestore"])
        .with_env_variable("FIRESTORE_EMULATOR_HOST", f"firestore:{_FIRESTORE_PORT}")
        .with_service_binding("pubsub", services["pubsub"])
        .with_env_variable("PUBSUB_EMULATOR_HOST", f"pubsub:{_PUBSUB_PORT}")
    )


@contextlib.asynccontextmanager
async def services_started(services: Iterable[dagger.Service]) -> AsyncIterator[None]:
    """Keep ``services`` running for the block, then stop them.

    The engine starts a bound service for each exec and stops it when the exec ends, so what
    one exec puts into an emulator (topics, documents) is gone before the next exec, which
    gets a fresh instance of the same service. A service started here is the instance every
    exec that binds the same recipe joins until it is stopped.
    """
    started: list[dagger.Service] = []
    try:
        for service in services:
            started.append(await service.start())
        yield
    finally:
        for service in started:
            await service.stop()
