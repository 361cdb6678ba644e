"""``Directory.dockerBuild``: what BuildKit needs from the context, and the image config.

RUN steps are not executed. What is checked is what fails a real build before any RUN:
the Dockerfile exists in the context, and every ``COPY``/``ADD`` source (not ``--from`` a
stage) exists in the context. The image gets the final stage's USER, WORKDIR, ENV and
EXPOSE, so a scan or a push has an image with a stable identity (the context's digest).
"""

from __future__ import annotations

import json
import shlex

from graphql import GraphQLError

from tests.doubles.dagger_engine._fs import DirEntry, FileEntry, Tree, glob, normalise, with_entry
from tests.doubles.dagger_engine._state import ContainerState, expand

__all__ = ["build"]


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
    return [(line.split(None, 1)[0].upper(), [*line.split(None, 1), ""][1]) for line in joined]


def _sources(arguments: str) -> list[str]:
    words = [w for w in shlex.split(arguments) if not w.startswith("--")]
    if arguments.lstrip().startswith("["):
        words = json.loads(arguments)
    return words[:-1]


def build(context: Tree, dockerfile: str) -> ContainerState:
    """The image a Dockerfile in ``context`` builds, or BuildKit's error."""
    entry = context.get(normalise(dockerfile))
    if not isinstance(entry, FileEntry):
        msg = f"failed to read dockerfile: open {dockerfile}: no such file or directory"
        raise GraphQLError(msg)
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    user, workdir = "root", "/"
    exposed: list[int] = []
    for instruction, arguments in _instructions(entry.content.decode()):
        if instruction == "ARG":
            name, _, default = arguments.partition("=")
            args[name.strip()] = default.strip()
        elif instruction == "FROM":
            env, user, workdir, exposed = {}, "root", "/", []
        elif instruction in ("COPY", "ADD") and "--from=" not in arguments:
            for source in _sources(expand(arguments, args)):
                if not glob(context, normalise(source)) and normalise(source):
                    msg = f'failed to compute cache key: failed to calculate checksum of ref: "/{normalise(source)}": not found'
                    raise GraphQLError(msg)
        elif instruction == "ENV":
            words = shlex.split(arguments)
            for word in words:
                name, _, value = word.partition("=")
                env[name] = expand(value, env)
        elif instruction == "USER":
            user = arguments.split(":")[0]
        elif instruction == "WORKDIR":
            workdir = arguments
        elif instruction == "EXPOSE":
            exposed += [int(p.split("/")[0]) for p in arguments.split()]
    tree: dict[str, DirEntry | FileEntry] = with_entry({}, normalise(workdir), DirEntry())
    return ContainerState(
        image=f"build:{dockerfile}",
        rootfs=tree,
        users=(("root", 0, 0), (user, int(user) if user.isdigit() else 1000, 1000)),
        user=user,
        workdir=workdir,
        env=tuple(env.items()),
        exposed=tuple(exposed),
    )
