"""What a tool contract sees of an exec, and what it returns.

A contract states what the real tool needs before it can do its work (its inputs, the
parent directory of its outputs, a secret its user can read, a lock-free cache...) and
what it leaves behind. When a need is not met it fails the way the tool does: same exit
status, and the tool's own message on stderr. It never runs the tool: verdicts beyond
the contract (a lint finding, a vulnerability) are not modelled, except where a test sets
them in the world (``World.findings``, ``World.delivery_failures``, ``World.dast_findings``,
``World.journey_failures``).

A server (an emulator, uvicorn) does not exit: its contract returns success with the
addresses it listens on, and the engine's health check compares them with the exposed ports.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.doubles.dagger_engine._state import (
    ContainerState,
    ExecFsError,
    ExecView,
    Mount,
    RunningService,
)
from tests.doubles.dagger_engine._world import World

__all__ = ["Contract", "Exec", "ExecFsError", "Outcome", "fail", "ok", "serving"]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How the modelled process ended."""

    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    listening: tuple[str, ...] = ()
    """A server's ``host:port`` addresses (it runs until the engine stops it)."""


def ok(stdout: str = "", stderr: str = "") -> Outcome:
    """Exit 0."""
    return Outcome(stdout=stdout, stderr=stderr)


def serving(*addresses: str, stdout: str = "") -> Outcome:
    """A server that came up and listens on ``addresses`` (``host:port``)."""
    return Outcome(stdout=stdout, listening=addresses)


def fail(stderr: str, exit_code: int = 1, stdout: str = "") -> Outcome:
    """A failure with the tool's message."""
    return Outcome(
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr if stderr.endswith("\n") else stderr + "\n",
    )


@dataclass(kw_only=True)
class Exec:
    """One exec: argv, environment (secret variables included), user, cwd and filesystem."""

    argv: tuple[str, ...]
    program: str
    env: dict[str, str]
    cwd: str
    user: str
    fs: ExecView
    world: World
    state: ContainerState
    image: str
    bound: dict[str, RunningService] = field(default_factory=dict)
    """The started services this exec can reach, by alias."""
    notes: list[str] = field(default_factory=list)

    @property
    def secret_names(self) -> frozenset[str]:
        """The variables that came in as secret variables."""
        return frozenset(name for name, _ in self.state.secret_env)

    @property
    def args(self) -> tuple[str, ...]:
        """The arguments after the program."""
        return self.argv[1:]

    def path(self, path: str) -> str:
        """``path`` made absolute against the working directory."""
        return posixpath.normpath(posixpath.join(self.cwd, path))

    def mount_at(self, path: str) -> Mount | None:
        """The mount ``path`` lies on, if any (the innermost)."""
        key = self.path(path).lstrip("/")
        found = [m for m in self.state.mounts if key == m.path or key.startswith(f"{m.path}/")]
        return max(found, key=lambda m: len(m.path)) if found else None

    def home(self) -> str:
        """$HOME, or root's."""
        return self.env.get("HOME", "/root" if self.fs.uid == 0 else "/")

    def option(self, name: str, default: str | None = None) -> str | None:
        """The value of ``--name VALUE`` or ``--name=VALUE`` (the last one wins)."""
        value = default
        args = self.args
        for i, arg in enumerate(args):
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(f"{name}="):
                value = arg.split("=", 1)[1]
        return value

    def with_argv(
        self,
        argv: tuple[str, ...],
        *,
        program: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> Exec:
        """The same process context running ``argv`` (a tool another tool starts)."""
        return dataclasses.replace(
            self,
            argv=argv,
            program=program or argv[0],
            env=self.env if env is None else env,
            cwd=self.cwd if cwd is None else cwd,
            notes=[],
        )

    def flag(self, name: str) -> bool:
        """True if ``name`` is among the arguments."""
        return name in self.args


Contract = Callable[[Exec], Outcome]
