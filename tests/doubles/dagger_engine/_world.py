"""Everything outside the containers: the stand-ins for the network, and what ran.

The engine double does not reach a registry, a GCS state bucket, the Terraform registry,
Sigstore, Cloud Run or a deployed service. Each is a small piece of state here that the tool contracts read
and change, so a test can set the scene (a provider release, a failing rollout) and read
the effects (what was pushed, signed, applied, rolled out, and every exec that ran).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Execution", "Rollout", "TerraformState", "World"]

#: Releases of the providers the roots require, oldest first; init picks the newest match.
_PROVIDER_RELEASES = {"hashicorp/google": ["6.14.0", "6.20.0", "6.50.0"]}


@dataclass(frozen=True, kw_only=True)
class Execution:
    """One exec the engine really ran (a cache hit is not one)."""

    image: str
    argv: tuple[str, ...]
    user: str
    env: tuple[str, ...]
    """Names of the environment variables (never their values: some are secrets)."""
    exit_code: int
    secrets: tuple[str, ...] = ()
    """Which of those names came in as secret variables."""


@dataclass(kw_only=True)
class TerraformState:
    """A state in the GCS backend: its serial counts the applies."""

    serial: int = 1
    applies: int = 0


@dataclass(frozen=True, kw_only=True)
class Rollout:
    """What clarity-deploy did to Cloud Run (the model's stand-in for its API calls)."""

    command: str
    env: str
    argv: tuple[str, ...]


@dataclass(kw_only=True)
class World:
    """The double's state outside containers; safe to use from the server's threads."""

    run_seconds: dict[str, float] = field(default_factory=lambda: {"trivy": 0.1})
    """How long a tool's modelled run lasts (it holds its locks that long)."""
    provider_releases: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in _PROVIDER_RELEASES.items()}
    )
    states: dict[str, TerraformState] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)
    """Pushed address (host/path:tag) -> digest."""
    signatures: list[tuple[str, str]] = field(default_factory=list)
    """(kind, digest reference) for every cosign sign and attest."""
    rollouts: list[Rollout] = field(default_factory=list)
    delivery_failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    """clarity-deploy command -> (exit code, message) it fails with."""
    findings: dict[str, int] = field(default_factory=dict)
    """Image digest -> fixable HIGH/CRITICAL vulnerabilities trivy reports."""
    dast_findings: dict[str, str] = field(default_factory=dict)
    """Target host (a service alias or a deployed host name) -> the failure schemathesis reports."""
    journey_failures: dict[str, str] = field(default_factory=dict)
    """Gateway host -> the failure the E2E journey (tests/e2e) reports there."""
    served_versions: dict[str, str] = field(default_factory=dict)
    """Deployed gateway host -> the version its ``/health`` reports."""
    topologies: set[tuple[str, str]] = field(default_factory=set)
    """(Pub/Sub emulator instance, project) pairs whose topics exist (gone with the instance)."""
    executions: list[Execution] = field(default_factory=list)
    service_starts: list[Execution] = field(default_factory=list)
    """Every service process the engine started (a service joined while running is not one)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _volume_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _flocks: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ journal

    def record(self, execution: Execution) -> None:
        """Note an exec that ran."""
        with self._lock:
            self.executions.append(execution)

    def started(self, execution: Execution) -> None:
        """Note a service process that was started."""
        with self._lock:
            self.service_starts.append(execution)

    def ran(self, program: str) -> list[Execution]:
        """The executions whose argv[0] is ``program``."""
        with self._lock:
            return [e for e in self.executions if e.argv[0] == program]

    # ------------------------------------------------------------------ locks

    @contextlib.contextmanager
    def locked_volume(self, key: str) -> Iterator[None]:
        """Hold a cache volume mounted ``LOCKED``: the engine serializes its users."""
        with self._lock:
            lock = self._volume_locks.setdefault(key, threading.Lock())
        with lock:
            yield

    @contextlib.contextmanager
    def flock(self, name: str) -> Iterator[bool]:
        """Try a tool's exclusive file lock without waiting; yield whether it was taken."""
        with self._lock:
            taken = name not in self._flocks
            if taken:
                self._flocks.add(name)
        try:
            yield taken
        finally:
            if taken:
                with self._lock:
                    self._flocks.discard(name)

    def run_for(self, tool: str) -> None:
        """Let a modelled run take its time (locks it holds stay held meanwhile)."""
        seconds = self.run_seconds.get(tool, 0.0)
        if seconds:
            time.sleep(seconds)

    # ------------------------------------------------------------------ stand-ins

    def release_provider(self, source: str, version: str) -> None:
        """A new provider release appears in the registry (the newest from now on)."""
        with self._lock:
            self.provider_releases.setdefault(source, []).append(version)

    def newest_provider(self, source: str, allowed: object) -> str | None:
        """The newest release of ``source`` that ``allowed(version)`` accepts."""
        with self._lock:
            releases = list(self.provider_releases.get(source, []))
        matching = [v for v in releases if callable(allowed) and allowed(v)]
        return matching[-1] if matching else None

    def state(self, backend: str) -> TerraformState:
        """The state of one backend location (created empty on first use)."""
        with self._lock:
            return self.states.setdefault(backend, TerraformState())

    def applied(self, backend: str) -> None:
        """An apply changed the state."""
        with self._lock:
            state = self.states.setdefault(backend, TerraformState())
            state.serial += 1
            state.applies += 1

    def push(self, address: str, content: str) -> str:
        """Store an image under ``address``; return its digest."""
        digest = "sha256:" + hashlib.sha256(content.encode()).hexdigest()
        with self._lock:
            self.registry[address] = digest
        return digest

    def has_digest(self, reference: str) -> bool:
        """True if a pushed image has the digest of ``name@sha256:...``."""
        name, _, digest = reference.partition("@")
        with self._lock:
            return any(
                pushed == digest and address.rsplit(":", 1)[0] == name
                for address, pushed in self.registry.items()
            )

    def signed(self, kind: str, reference: str) -> None:
        """cosign stored a signature or an attestation for ``reference``."""
        with self._lock:
            self.signatures.append((kind, reference))

    def created_topology(self, emulator: str, project: str) -> None:
        """The Pub/Sub topology now exists on that emulator for that project."""
        with self._lock:
            self.topologies.add((emulator, project))

    def has_topology(self, emulator: str, project: str) -> bool:
        """True if the topology was created on that emulator for that project."""
        with self._lock:
            return (emulator, project) in self.topologies

    def rolled_out(self, rollout: Rollout) -> None:
        """clarity-deploy changed (or read) Cloud Run."""
        with self._lock:
            self.rollouts.append(rollout)
