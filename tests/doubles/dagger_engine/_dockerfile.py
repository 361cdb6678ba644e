"""``Directory.dockerBuild``: the stages a target needs, built the way BuildKit builds them.

What is modelled is what a service started from the image needs, and what fails a build:

* ``FROM``: ``ARG`` defaults declared before it are expanded; a stage name continues that
  stage, ``scratch`` is empty, any other reference is a base image whose manifest the double
  has (``_manifests.base_key``: the pinned image with that digest, or a base only the
  Dockerfiles pin), so the stage starts with its files, users, variables and command;
* ``COPY``/``ADD`` from the context (after ``.dockerignore``; every source must exist) or
  ``--from=<stage or image>`` (the source must exist in that stage), with ``--chown`` and
  ``--chmod``;
* ``RUN`` (shell form through the stage's ``SHELL``, ``/bin/sh -c`` by default; exec form):
  run through the same tool contracts as an exec, with the stage's variables and the ``ARG``
  values in scope, as the stage's user; ``--mount`` flags are not modelled (no secret or
  cache is mounted), so a step that reads one sees nothing there;
* the image config: ``ENV`` (values expanded from the variables before the instruction),
  ``USER``, ``WORKDIR`` (created), ``EXPOSE``, ``ENTRYPOINT`` and ``CMD`` in exec and shell
  form (``ENTRYPOINT`` resets a ``CMD`` the stage inherited), ``SHELL``.

Only the stages the target (the last stage, or ``target``) depends on are built. ``LABEL``,
``HEALTHCHECK`` (the engine ignores it; services are health-checked on their ports),
``STOPSIGNAL``, ``VOLUME`` and ``ONBUILD`` change nothing the model tracks; heredocs and
``ADD`` of a URL fail loudly. The image keeps the name ``build:<dockerfile>``.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, replace

from graphql import GraphQLError

from tests.doubles.dagger_engine._fs import (
    DirEntry,
    Entry,
    FileEntry,
    Tree,
    glob,
    ignored,
    normalise,
    subtree,
    with_entry,
)
from tests.doubles.dagger_engine._state import ContainerState, ExecFsError
from tests.doubles.dagger_engine._words import NotModelled, ShellSyntaxError, words

__all__ = ["BaseImage", "RunStep", "build"]

RunStep = Callable[[ContainerState, tuple[str, ...]], ContainerState]
"""Runs a RUN step's argv in a stage; returns the stage after it (or raises the exec error)."""
BaseImage = Callable[[str], ContainerState]
"""A base image reference -> the image as pulled."""

_IGNORED = frozenset({"LABEL", "HEALTHCHECK", "STOPSIGNAL", "VOLUME", "ONBUILD", "MAINTAINER"})


@dataclass(frozen=True)
class _Stage:
    name: str | None
    base: str
    instructions: tuple[tuple[str, str], ...]


def _instructions(text: str) -> list[tuple[str, str]]:
    joined, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    if current:
        joined.append(current)
    return [(line.split(None, 1)[0].upper(), [*line.split(None, 1), ""][1]) for line in joined]


def _flags(arguments: str) -> tuple[dict[str, str], str]:
    """Leading ``--name=value`` flags and the rest."""
    flags: dict[str, str] = {}
    rest = arguments.strip()
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    return flags, rest


def _exec_form(arguments: str) -> list[str] | None:
    if not arguments.lstrip().startswith("["):
        return None
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return None
    return [str(a) for a in parsed] if isinstance(parsed, list) else None


def _words(text: str, scope: dict[str, str]) -> list[str]:
    try:
        return words(text, scope)
    except (NotModelled, ShellSyntaxError) as exc:
        msg = f"dockerfile parse error: {text!r}: {exc}"
        raise GraphQLError(msg) from None


class _Build:
    def __init__(
        self, context: Tree, text: str, *, dockerfile: str, run: RunStep, base: BaseImage
    ) -> None:
        self.dockerfile = dockerfile
        self.run, self.base = run, base
        ignore = context.get(".dockerignore")
        patterns = ignore.content.decode().splitlines() if isinstance(ignore, FileEntry) else []
        patterns = [p.strip() for p in patterns if p.strip() and not p.startswith("#")]
        self.context = {k: e for k, e in context.items() if not ignored(k, patterns)}
        self.global_args: dict[str, str] = {}
        self.stages: list[_Stage] = []
        self.built: dict[int, ContainerState] = {}
        stage: list[tuple[str, str]] | None = None
        name: str | None = None
        reference = ""
        for instruction, arguments in _instructions(text):
            if instruction == "FROM":
                if stage is not None:
                    self.stages.append(_Stage(name, reference, tuple(stage)))
                _, rest = _flags(arguments)
                parts = _words(rest, self.global_args)
                reference = parts[0] if parts else ""
                name = parts[2].lower() if len(parts) == 3 and parts[1].upper() == "AS" else None
                stage = []
            elif stage is None and instruction == "ARG":
                for word in _words(arguments, self.global_args):
                    arg, _, default = word.partition("=")
                    self.global_args[arg] = default
            elif stage is None:
                msg = f"dockerfile parse error: {instruction} before the first FROM"
                raise GraphQLError(msg)
            else:
                stage.append((instruction, arguments))
        if stage is None:
            msg = "dockerfile parse error: file with no instructions"
            raise GraphQLError(msg)
        self.stages.append(_Stage(name, reference, tuple(stage)))

    def index(self, reference: str) -> int | None:
        if reference.isdigit() and int(reference) < len(self.stages):
            return int(reference)
        return next((i for i, s in enumerate(self.stages) if s.name == reference.lower()), None)

    def stage(self, index: int) -> ContainerState:
        if index not in self.built:
            self.built[index] = self._build(self.stages[index], index)
        return self.built[index]

    def image(self, reference: str, before: int) -> ContainerState:
        """A stage (built before ``before``) or an image, by name."""
        index = self.index(reference)
        if index is not None and index < before:
            return self.stage(index)
        if reference == "scratch":
            return ContainerState(image="scratch", rootfs={}, users=(("root", 0, 0),))
        return self.base(reference)

    def _build(self, stage: _Stage, index: int) -> ContainerState:
        st = replace(self.image(stage.base, index), image=f"build:{self.dockerfile}", last=None)
        args: dict[str, str] = {}
        shell = ["/bin/sh", "-c"]
        cmd_set = False
        for instruction, arguments in stage.instructions:
            scope = {**args, **st.env_dict()}
            if instruction == "ARG":
                for word in _words(arguments, scope):
                    arg, equals, default = word.partition("=")
                    if equals or arg in self.global_args:
                        args[arg] = default if equals else self.global_args[arg]
            elif instruction == "ENV":
                st = self._env(st, arguments, scope)
            elif instruction == "USER":
                st = replace(st, user=_words(arguments, scope)[0])
            elif instruction == "WORKDIR":
                workdir = posixpath.join(st.workdir, _words(arguments, scope)[0])
                st = replace(st, workdir=posixpath.normpath(workdir))
                st = replace(st, rootfs=with_entry(st.rootfs, normalise(workdir), DirEntry()))
            elif instruction == "EXPOSE":
                ports = [int(p.split("/")[0]) for p in _words(arguments, scope)]
                st = replace(st, exposed=(*st.exposed, *ports))
            elif instruction in ("COPY", "ADD"):
                st = self._copy(st, arguments, scope, index)
            elif instruction == "RUN":
                st = self._run(st, arguments, args, shell)
            elif instruction == "CMD":
                st = replace(st, cmd=self._command(arguments, shell))
                cmd_set = True
            elif instruction == "ENTRYPOINT":
                entrypoint = self._command(arguments, shell)
                st = replace(st, entrypoint=entrypoint, cmd=st.cmd if cmd_set else ())
            elif instruction == "SHELL":
                shell = _exec_form(arguments) or shell
            elif instruction not in _IGNORED:
                msg = f"dockerfile parse error: unknown instruction: {instruction}"
                raise GraphQLError(msg)
        return st

    @staticmethod
    def _env(st: ContainerState, arguments: str, scope: dict[str, str]) -> ContainerState:
        parts = _words(arguments, scope)
        if parts and "=" not in parts[0]:  # the legacy form: ENV NAME VALUE...
            parts = [f"{parts[0]}={' '.join(parts[1:])}"]
        for part in parts:
            name, _, value = part.partition("=")
            st = st.with_env(name, value)
        return st

    @staticmethod
    def _command(arguments: str, shell: list[str]) -> tuple[str, ...]:
        exec_form = _exec_form(arguments)
        return tuple(exec_form) if exec_form is not None else (*shell, arguments)

    def _run(
        self, st: ContainerState, arguments: str, args: dict[str, str], shell: list[str]
    ) -> ContainerState:
        _, rest = _flags(arguments)
        if rest.startswith("<<"):
            msg = "the engine double does not model heredocs in RUN"
            raise GraphQLError(msg)
        argv = tuple(_exec_form(rest) or (*shell, rest))
        env = st.env_dict()
        scoped = replace(st, env=tuple({**args, **env}.items()))
        return replace(st, rootfs=self.run(scoped, argv).rootfs)

    def _copy(
        self, st: ContainerState, arguments: str, scope: dict[str, str], index: int
    ) -> ContainerState:
        flags, rest = _flags(arguments)
        parts = _exec_form(rest) or _words(rest, scope)
        sources, destination = parts[:-1], parts[-1] if parts else ""
        if any(s.startswith(("http://", "https://")) for s in sources):
            msg = "the engine double does not model ADD from a URL"
            raise GraphQLError(msg)
        # Sources are relative to the context's root, or to the root of the --from stage.
        tree: Tree = self.context
        label = ""
        if "from" in flags:
            tree, label = self.image(flags["from"], index).rootfs, f" in --from={flags['from']}"
        try:
            uid, gid = st.ids(flags["chown"]) if flags.get("chown") else (0, 0)
        except ExecFsError as exc:
            raise GraphQLError(str(exc)) from None
        mode = int(flags["chmod"], 8) if flags.get("chmod") else None
        target = posixpath.normpath(posixpath.join(st.workdir, destination))
        into = destination.endswith("/") or len(sources) > 1
        rootfs = dict(st.rootfs)
        for source in sources:
            key = normalise(source)
            matches = glob(tree, key) if key else [""]
            if not matches:
                msg = f'failed to compute cache key: failed to calculate checksum of ref: "/{key}": not found{label}'
                raise GraphQLError(msg)
            for match in matches:
                entry = tree.get(match) if match else DirEntry()
                name = posixpath.basename(match)
                if isinstance(entry, FileEntry):
                    path = posixpath.join(target, name) if into else target
                    owned = FileEntry(
                        content=entry.content, mode=mode or entry.mode, uid=uid, gid=gid
                    )
                    rootfs = with_entry(rootfs, normalise(path), owned)
                    continue
                path = posixpath.join(target, name) if into and len(matches) > 1 else target
                rootfs = _copy_dir(
                    rootfs, normalise(path), subtree(tree, match), uid=uid, gid=gid, mode=mode
                )
        return replace(st, rootfs=rootfs)


def _copy_dir(
    rootfs: dict[str, Entry], key: str, tree: Tree, *, uid: int, gid: int, mode: int | None
) -> dict[str, Entry]:
    updated = with_entry(rootfs, key, DirEntry(uid=uid, gid=gid)) if key else dict(rootfs)
    prefix = f"{key}/" if key else ""
    for path, entry in tree.items():
        if isinstance(entry, FileEntry):
            updated[prefix + path] = FileEntry(
                content=entry.content, mode=mode or entry.mode, uid=uid, gid=gid
            )
        else:
            updated[prefix + path] = DirEntry(mode=entry.mode, uid=uid, gid=gid)
    return updated


def build(
    context: Tree, dockerfile: str, *, target: str = "", run: RunStep, base: BaseImage
) -> ContainerState:
    """The image a Dockerfile in ``context`` builds (its ``target`` stage), or BuildKit's error."""
    entry = context.get(normalise(dockerfile))
    if not isinstance(entry, FileEntry):
        msg = f"failed to read dockerfile: open {dockerfile}: no such file or directory"
        raise GraphQLError(msg)
    job = _Build(context, entry.content.decode(), dockerfile=dockerfile, run=run, base=base)
    index = len(job.stages) - 1 if not target else job.index(target)
    if index is None:
        msg = f"failed to solve: target stage {target!r} could not be found"
        raise GraphQLError(msg)
    return job.stage(index)
