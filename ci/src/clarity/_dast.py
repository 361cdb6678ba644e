"""DAST: schemathesis against both services, run the same way in every place.

The pytest tier (``tests/dast``) and ``dagger call dast`` run :func:`dast_command` from the
repository root with :data:`DAST_CONFIG` (every check, negative data, a fixed example budget,
deterministic generation). Only where the services run differs:

* local (no URL given): both images, built from docker/*/Dockerfile as for a release, run as
  Dagger services on the Firestore and Pub/Sub emulator services, with the topics created
  first (docker/pubsub/create_topology.py). The caller keeps the emulators started for the
  whole run (``_workspace.services_started``): the engine stops a service when the exec
  that bound it ends, and the next exec would find a fresh emulator without the topics;
* remote: deployed base URLs (a staging candidate's tag URL) with an ID token. The token is
  a secret variable, :data:`TOKEN_VARIABLE`, that the run's config names as
  ``${CLARITY_DAST_TOKEN}``: it is never in argv, in a file or in the output (schemathesis
  masks ``Authorization`` in what it prints).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import urlsplit

import dagger
from dagger import ReturnType

from clarity._caching import every_call
from clarity._errors import GatesFailedError, InputError
from clarity._report import StepResult, Summary, summarize
from clarity._workspace import with_emulators

__all__ = [
    "DAST_CONFIG",
    "DAST_PROJECT",
    "LOCAL_TARGETS",
    "TOKEN_VARIABLE",
    "authenticated_config",
    "dast_command",
    "local_stack",
    "run_dast",
    "validate_targets",
]

DAST_CONFIG: Final = "tests/dast/schemathesis.toml"
"""The schemathesis settings, relative to the repository root (the runs' working directory)."""

TOKEN_VARIABLE: Final = "CLARITY_DAST_TOKEN"  # noqa: S105  # nosec B105 - a name, not a value
DAST_PROJECT: Final = "clarity-dast"
SERVICE_PORT: Final = 8080
LOCAL_TARGETS: Final = {
    "api-gateway": f"http://api-gateway:{SERVICE_PORT}",
    "ml-service": f"http://ml-service:{SERVICE_PORT}",
}
"""Service name -> base URL inside the local stack (the gateway first: the ML service's push
example names the batch the gateway's example stores)."""

_RUN_CONFIG: Final = "/tmp/clarity-dast.toml"  # noqa: S108  # nosec B108 - inside the container


def dast_command(base_url: str, *, config: str = DAST_CONFIG) -> list[str]:
    """The schemathesis argv that tests the service at ``base_url`` (no trailing slash)."""
    return [
        "schemathesis",
        "--config-file",
        config,
        "run",
        f"{base_url.rstrip('/')}/openapi.json",
        "--no-color",
    ]


def authenticated_config(text: str) -> str:
    """``text`` (the settings file) with an ``Authorization`` header naming the token variable.

    Prepended, so it is a top-level key whatever tables the file has.
    """
    header = f'headers = {{ Authorization = "Bearer ${{{TOKEN_VARIABLE}}}" }}\n'
    return header + text


def validate_targets(urls: Sequence[str], *, flag: str = "--urls") -> list[str]:
    """Deployed base URLs: https origins without credentials, query or fragment."""
    targets: list[str] = []
    for url in urls:
        parts = urlsplit(url.strip())
        problem = None
        if parts.scheme != "https" or not parts.hostname:
            problem = "is not an https URL"
        elif parts.username or parts.password:
            problem = "carries credentials (pass the ID token with --token)"
        elif parts.query or parts.fragment or parts.path not in ("", "/"):
            problem = "is not a base URL (scheme and host only)"
        if problem is not None:
            msg = f"{flag}: {url!r} {problem}; give each service's base URL, e.g. https://candidate---api-gateway-abc123-ew.a.run.app"
            raise InputError(msg)
        target = f"https://{parts.netloc}"
        if target not in targets:
            targets.append(target)
    return targets


def local_stack(
    runner: dagger.Container, images: Mapping[str, dagger.Container]
) -> dagger.Container:
    """``runner`` bound to both services (``images``) running on the emulators, topics made."""

    def on_emulators(container: dagger.Container) -> dagger.Container:
        return with_emulators(container).with_env_variable("GOOGLE_CLOUD_PROJECT", DAST_PROJECT)

    ml_service = (
        images["ml-service"].with_(on_emulators).with_exposed_port(SERVICE_PORT).as_service()
    )
    gateway = (
        images["api-gateway"]
        .with_(on_emulators)
        .with_service_binding("ml-service", ml_service)
        .with_env_variable("ML_SERVICE_URL", LOCAL_TARGETS["ml-service"])
        .with_exposed_port(SERVICE_PORT)
        .as_service()
    )
    return (
        runner.with_(on_emulators)
        .with_exec(["python", "docker/pubsub/create_topology.py"])
        .with_service_binding("ml-service", ml_service)
        .with_service_binding("api-gateway", gateway)
    )


async def run_dast(
    runner: dagger.Container,
    targets: Mapping[str, str],
    *,
    token: dagger.Secret | None = None,
) -> str:
    """Run :func:`dast_command` against each target in turn; one summary, failing if any did."""
    config = DAST_CONFIG
    if token is not None:
        settings = await runner.file(DAST_CONFIG).contents()
        runner = runner.with_new_file(_RUN_CONFIG, authenticated_config(settings))
        runner = runner.with_secret_variable(TOKEN_VARIABLE, token)
        config = _RUN_CONFIG
    # A deployed target changes between calls; a local stack is rebuilt from the inputs.
    runner = runner.with_(every_call) if token is not None else runner
    results: list[StepResult] = []
    for name, url in targets.items():
        ran = runner.with_exec(dast_command(url, config=config), expect=ReturnType.ANY)
        results.append(
            StepResult.from_exit(
                gate="dast",
                step=name,
                exit_code=await ran.exit_code(),
                output=await ran.combined_output(),
            )
        )
    summary: Summary = summarize(results, [("dast", name) for name in targets])
    if not summary.ok:
        raise GatesFailedError(summary.render())
    return summary.render()
