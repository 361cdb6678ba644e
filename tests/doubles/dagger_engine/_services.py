"""Services as the engine runs them: started for the execs that bind them, stopped after.

An exec starts every service its container binds (each service first starting its own
bindings) and detaches from them when it ends; a service nobody holds any more is stopped,
so what it kept in memory (an emulator's topics and documents) is gone, and the next exec
that binds the same recipe starts a fresh instance. ``Service.start`` holds a service until
``Service.stop`` (or the end of the session), which is how state outlives one exec. Starts
of one recipe are de-duplicated while it runs, as the engine keys running services by digest.

A service runs its container's default command unless ``asService`` was given arguments:
the image's ENTRYPOINT followed by its CMD, or only the arguments (with the entrypoint when
``useEntrypoint``), as ``Container.asService`` resolves them. It runs as the container's
user, in its working directory, with its variables; then the health check waits for every
exposed port: each must be listened on on every interface. A process that exits, or never
listens where the ports are, fails the start with the engine's words.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphql import GraphQLError

from tests.doubles.dagger_engine._objects import Service
from tests.doubles.dagger_engine._state import (
    ContainerState,
    ExecFsError,
    ExecView,
    RunningService,
    expand,
)
from tests.doubles.dagger_engine._world import Execution, World

if TYPE_CHECKING:
    from tests.doubles.dagger_engine.contracts import Outcome

__all__ = ["Process", "Services", "command"]

_ANY_INTERFACE = ("0.0.0.0", "::", "[::]")  # noqa: S104 - addresses compared, not bound

Process = Callable[
    [ContainerState, tuple[str, ...], dict[str, str], ExecView, dict[str, RunningService]],
    "Outcome",
]
"""Runs argv through its tool's contract (the engine's ``process``)."""


def command(st: ContainerState, service: Service) -> tuple[str, ...]:
    """The argv a service runs: explicit arguments, or the image's ENTRYPOINT + CMD."""
    if service.args:
        argv = (*st.entrypoint, *service.args) if service.use_entrypoint else service.args
    else:
        argv = (*st.entrypoint, *st.cmd)
    if not argv:
        msg = "no service command has been set"
        raise GraphQLError(msg)
    return tuple(expand(a, st.env_dict()) for a in argv) if service.expand else argv


@dataclass
class _Held:
    running: RunningService
    holders: int


class Services:
    """The running service instances of one engine."""

    def __init__(
        self, world: World, state: Callable[[Service], ContainerState], run: Process
    ) -> None:
        self._world = world
        self._state = state
        self._run = run
        self._held: dict[str, _Held] = {}
        self._explicit: dict[str, RunningService] = {}
        self._starting: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._instances = itertools.count(1)

    @contextlib.contextmanager
    def bound(
        self, services: tuple[tuple[str, Service], ...]
    ) -> Iterator[dict[str, RunningService]]:
        """Start (or join) every service of a binding list for as long as the block runs."""
        held: dict[str, RunningService] = {}
        try:
            for alias, service in services:
                held[alias] = self.acquire(alias, service)
            yield held
        finally:
            for running in held.values():
                self.release(running)

    def acquire(self, alias: str, service: Service) -> RunningService:
        """The running instance of ``service``, started if none runs; one more holder."""
        with self._lock:
            starting = self._starting.setdefault(service.digest, threading.Lock())
        with starting:
            with self._lock:
                held = self._held.get(service.digest)
                if held is not None:
                    held.holders += 1
                    return held.running
            running = self._start(alias, service)
            with self._lock:
                self._held[service.digest] = _Held(running, 1)
            return running

    def release(self, running: RunningService) -> None:
        """One holder less; the last one stops the service (and releases its bindings)."""
        with self._lock:
            held = self._held.get(running.digest)
            if held is None or held.running is not running:
                return
            held.holders -= 1
            if held.holders:
                return
            del self._held[running.digest]
        for _, dependency in running.bindings:
            self.release(dependency)

    def start(self, service: Service) -> None:
        """``Service.start``: hold the service until ``stop``."""
        with self._lock:
            if service.digest in self._explicit:
                return
        running = self.acquire("", service)
        with self._lock:
            self._explicit[service.digest] = running

    def stop(self, service: Service) -> None:
        """``Service.stop``: let go of an explicitly started service."""
        with self._lock:
            running = self._explicit.pop(service.digest, None)
        if running is not None:
            self.release(running)

    def _start(self, alias: str, service: Service) -> RunningService:
        st = self._state(service)
        argv = command(st, service)
        label = alias or "service"
        with contextlib.ExitStack() as unwind:
            bindings: dict[str, RunningService] = {}
            for name, dependency in st.services:
                bindings[name] = self.acquire(name, dependency)
                unwind.callback(self.release, bindings[name])
            try:
                uid, gid = st.ids(st.user)
            except ExecFsError as exc:
                msg = f"start {label}: {exc}"
                raise GraphQLError(msg) from None
            view = ExecView(rootfs=dict(st.rootfs), mounts=st.mounts, uid=uid, gid=gid)
            env = st.env_dict() | {name: secret.plaintext for name, secret in st.secret_env}
            outcome = self._run(st, argv, env, view, bindings)
            self._world.started(
                Execution(
                    image=st.image,
                    argv=argv,
                    user=st.user,
                    env=tuple(env),
                    exit_code=outcome.exit_code,
                    secrets=tuple(name for name, _ in st.secret_env),
                )
            )
            _health_check(label, st, argv, outcome)
            unwind.pop_all()
        return RunningService(
            alias=alias,
            digest=service.digest,
            instance=f"{service.digest[:12]}#{next(self._instances)}",
            argv=argv,
            env=st.env,
            exposed=st.exposed,
            listening=outcome.listening,
            bindings=tuple(bindings.items()),
        )


def _health_check(label: str, st: ContainerState, argv: tuple[str, ...], outcome: Outcome) -> None:
    if outcome.exit_code != 0:
        output = (outcome.stdout + outcome.stderr).strip()
        msg = f"start {label}: service exited with code {outcome.exit_code}: {output}"
        raise GraphQLError(msg)
    if st.exposed and not outcome.listening:
        msg = f"start {label}: service exited before healthcheck ({' '.join(argv)})"
        raise GraphQLError(msg)
    for port in dict.fromkeys(st.exposed):
        if not any(
            address.rpartition(":")[2] == str(port) and address.rpartition(":")[0] in _ANY_INTERFACE
            for address in outcome.listening
        ):
            msg = (
                f"start {label}: health check errored: nothing listens on port {port}/tcp: the "
                f"service exposes {list(dict.fromkeys(st.exposed))} but its command listens on "
                f"{', '.join(outcome.listening)}"
            )
            raise GraphQLError(msg)
