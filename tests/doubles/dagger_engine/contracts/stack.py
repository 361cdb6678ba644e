"""The local stack: emulators, the Pub/Sub topology, the services, and how a client reaches them.

Any client of the stack (schemathesis for ``dast``, a pytest tier against it) asks the same
questions, answered here once:

* :func:`reach` — what a URL names from inside the exec: a bound service (which must listen
  on that port on every interface), a deployed service (a host name with a dot, outside the
  double, reachable unless the world says otherwise), or nothing (DNS fails);
* :func:`service_problems` — why a started backend service could not answer its routes:
  ``FIRESTORE_EMULATOR_HOST``/``PUBSUB_EMULATOR_HOST`` unset or not naming a bound emulator
  on that port, no Pub/Sub topology created on its emulator for its ``GOOGLE_CLOUD_PROJECT``
  (the settings' default when unset), an ``http://`` ``*_URL`` whose host is not bound;
* :func:`emulator_problem` — one emulator variable's check (the pytest tiers use it too).

``python docker/pubsub/create_topology.py`` is modelled here too: it needs
google-cloud-pubsub in its interpreter's environment and ``PUBSUB_EMULATOR_HOST`` naming a
bound Pub/Sub emulator, and records in the world that the topology exists on that emulator
for ``GOOGLE_CLOUD_PROJECT`` (or the script's own default project, read from its source).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from clarity_common.settings import ServiceSettings
from tests.doubles.dagger_engine._state import RunningService
from tests.doubles.dagger_engine._world import World
from tests.doubles.dagger_engine.contracts import _venv
from tests.doubles.dagger_engine.contracts._base import Exec, Outcome, fail, ok

__all__ = ["EMULATORS", "SCRIPTS", "Target", "emulator_problem", "reach", "service_problems"]

EMULATORS: Final = {"FIRESTORE_EMULATOR_HOST": "firestore", "PUBSUB_EMULATOR_HOST": "pubsub"}
"""The variable the Google client libraries read -> the emulator it must name."""

_SERVICE_PROJECT: Final = str(ServiceSettings.model_fields["google_cloud_project"].default)
_PUBSUB_DISTRIBUTION: Final = "google-cloud-pubsub"
_ANY_INTERFACE: Final = ("0.0.0.0", "::", "[::]")  # noqa: S104 - addresses compared, not bound


def _listens(service: RunningService, port: int) -> bool:
    for address in service.listening:
        host, _, listened = address.rpartition(":")
        if listened == str(port) and host in _ANY_INTERFACE:
            return True
    return False


def emulator_problem(
    env: Mapping[str, str], bound: Mapping[str, RunningService], variable: str
) -> str | None:
    """Why ``variable`` does not lead to its emulator (None when it does)."""
    emulator = EMULATORS[variable]
    address = env.get(variable) or ""
    host, _, port = address.rpartition(":")
    service = bound.get(host)
    if service is None or emulator not in service.argv or not port.isdigit():
        return (
            f"nothing listens on {address or '(unset)'} ({variable}); bind the {emulator} "
            "emulator as a service with that alias and port"
        )
    if not _listens(service, int(port)):
        return f"{variable}={address}: the {emulator} emulator listens on {', '.join(service.listening)}"
    return None


@dataclass(frozen=True)
class Target:
    """What a URL reached: a bound service of the stack, or a deployed one (``service`` None)."""

    url: str
    host: str
    service: RunningService | None


def reach(ex: Exec, url: str) -> Target | str:
    """The target ``url`` names from inside the exec, or the client's connection error."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    service = ex.bound.get(host)
    if service is not None:
        if not _listens(service, port):
            return f"Connection refused: nothing listens on {host}:{port} (it listens on {', '.join(service.listening) or 'nothing'})"
        return Target(url, host, service)
    if "." in host:
        return Target(url, host, None)
    return f"Failed to resolve '{host}' ([Errno -2] Name or service not known): no service is bound with that alias"


def service_problems(service: RunningService, world: World) -> list[str]:
    """Why ``service`` would fail requests that reach Firestore, Pub/Sub or another service."""
    env, bound = service.env_dict(), service.bound()
    problems = []
    for variable, emulator in EMULATORS.items():
        if not env.get(variable):
            problems.append(
                f"{variable} is not set: {service.alias} would call Google's {emulator} API, "
                "which it cannot reach without credentials"
            )
        elif (problem := emulator_problem(env, bound, variable)) is not None:
            problems.append(problem)
    pubsub = bound.get(env.get("PUBSUB_EMULATOR_HOST", "").rpartition(":")[0])
    project = env.get("GOOGLE_CLOUD_PROJECT") or _SERVICE_PROJECT
    if pubsub is not None and not world.has_topology(pubsub.instance, project):
        problems.append(
            f"Pub/Sub answers 404 Resource not found: no topics in project {project!r} on "
            f"{pubsub.alias}; run docker/pubsub/create_topology.py against that emulator with "
            f"GOOGLE_CLOUD_PROJECT={project} first"
        )
    for name, value in sorted(env.items()):
        parts = urlsplit(value)
        if name.endswith("_URL") and parts.scheme == "http" and parts.hostname:
            target = bound.get(parts.hostname)
            port = parts.port or 80
            if target is None or not _listens(target, port):
                problems.append(f"{name}={value}: {service.alias} cannot connect to it")
    return problems


def _default_project(source: str) -> str | None:
    """The project the script uses when GOOGLE_CLOUD_PROJECT is unset (``.get(NAME, DEFAULT)``)."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and len(node.args) == 2
            and all(isinstance(a, ast.Constant) for a in node.args)
            and getattr(node.args[0], "value", None) == "GOOGLE_CLOUD_PROJECT"
        ):
            return str(getattr(node.args[1], "value", ""))
    return None


def create_topology(ex: Exec) -> Outcome:
    """python docker/pubsub/create_topology.py: topics and subscriptions on the emulator."""
    if not _venv.has_distribution(ex.fs, _venv.site_of(ex.program), _PUBSUB_DISTRIBUTION):
        return fail(
            "Traceback (most recent call last):\n"
            f'  File "{ex.path(ex.argv[0])}", line 19, in <module>\n'
            "ModuleNotFoundError: No module named 'google'"
        )
    if not ex.env.get("PUBSUB_EMULATOR_HOST"):
        return fail("PUBSUB_EMULATOR_HOST is not set: this script only provisions the emulator.", 2)
    problem = emulator_problem(ex.env, ex.bound, "PUBSUB_EMULATOR_HOST")
    if problem is not None:
        address = ex.env["PUBSUB_EMULATOR_HOST"]
        return fail(
            "google.api_core.exceptions.RetryError: Timeout of 60.0s exceeded, last exception: "
            f"503 failed to connect to all addresses; last error: UNAVAILABLE: {address}: {problem}"
        )
    project = ex.env.get("GOOGLE_CLOUD_PROJECT") or _default_project(
        ex.fs.read_text(ex.path(ex.argv[0]))
    )
    if project is None:
        return fail(
            "the engine double cannot tell which project the script uses without "
            "GOOGLE_CLOUD_PROJECT: model its default in contracts/stack.py"
        )
    emulator = ex.bound[ex.env["PUBSUB_EMULATOR_HOST"].rpartition(":")[0]]
    ex.world.created_topology(emulator.instance, project)
    return ok(f"pubsub topology ready on {ex.env['PUBSUB_EMULATOR_HOST']} (project {project})\n")


SCRIPTS: Final[dict[str, Callable[[Exec], Outcome]]] = {
    "create_topology.py": create_topology,
}
"""Script basename -> its contract (``python SCRIPT``)."""
