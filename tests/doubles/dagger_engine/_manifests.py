"""The pinned images as the double knows them: one manifest per image of ``_images.IMAGES``.

A manifest (``images/<key>.toml``, the key being the image's key in
``ci/src/clarity/_images.py``) describes what that image's upstream Dockerfile builds: the
binaries on PATH, the directories that exist, the default user, working directory and
environment, and whether there is a shell. The reference itself (repository, tag, digest)
is only in ``_images.py``: ``from(address)`` finds the key by the address the module asks
for, so a bumped digest needs no change here, and an image the module starts using
without a manifest fails loudly.

A Dockerfile's ``FROM`` finds its manifest by :func:`base_key`: a pinned image of
``_images.py`` with the same repository and digest (a different digest is a different
image, and fails loudly), or, for a base only the Dockerfiles pin (uv's image), the manifest
that names that ``repository``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from clarity._images import IMAGES
from graphql import GraphQLError

from tests.doubles.dagger_engine._fs import DirEntry, Entry, FileEntry, normalise, with_entry
from tests.doubles.dagger_engine._state import ContainerState

__all__ = ["MANIFESTS", "Manifest", "base_key", "image_key", "manifest", "pristine"]

MANIFESTS = Path(__file__).parent / "images"


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """What an image contains, per its upstream Dockerfile."""

    key: str
    source: str
    user: str
    workdir: str
    shell: str | None
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    users: tuple[tuple[str, int, int], ...]
    binaries: tuple[str, ...]
    directories: tuple[str, ...]
    owners: tuple[tuple[str, int, int], ...]
    absent: tuple[str, ...]
    repository: str | None
    """Only for a base image the Dockerfiles pin and ``_images.py`` does not."""


@cache
def manifest(key: str) -> Manifest:
    """The manifest of the image ``key``."""
    path = MANIFESTS / f"{key}.toml"
    data: dict[str, Any] = tomllib.loads(path.read_text())
    shell = data["shell"]
    return Manifest(
        key=key,
        source=data["source"],
        user=data["user"],
        workdir=data["workdir"],
        shell=shell if isinstance(shell, str) else None,
        entrypoint=tuple(data["entrypoint"]),
        cmd=tuple(data["cmd"]),
        env=tuple(data["env"].items()),
        users=tuple((name, ids[0], ids[1]) for name, ids in data["users"].items()),
        binaries=tuple(data["paths"]["binaries"]),
        directories=tuple(data["paths"]["directories"]),
        owners=tuple((path, ids[0], ids[1]) for path, ids in data.get("owners", {}).items()),
        absent=tuple(data.get("absent", ())),
        repository=data.get("repository"),
    )


def image_key(address: str) -> str:
    """The key of the pinned image with this address; an error for any other image."""
    for key, ref in IMAGES.items():
        if ref.address == address:
            if not (MANIFESTS / f"{key}.toml").is_file():
                msg = f"the engine double has no manifest for image {key!r}: add {MANIFESTS.name}/{key}.toml"
                raise GraphQLError(msg)
            return key
    msg = (
        f"failed to resolve source metadata for {address}: the engine double knows only the "
        "images pinned in ci/src/clarity/_images.py"
    )
    raise GraphQLError(msg)


def _repository_and_digest(reference: str) -> tuple[str, str | None]:
    """``python:3.11@sha256:...`` -> (``docker.io/library/python``, ``sha256:...``)."""
    name, _, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name if '/' in name else f'library/{name}'}"
    return name, digest or None


def base_key(reference: str) -> str:
    """The manifest of a Dockerfile's base image ``reference``; an error for any other."""
    repository, digest = _repository_and_digest(reference)
    for key, ref in IMAGES.items():
        if ref.repository == repository:
            if ref.digest == digest:
                return image_key(ref.address)
            msg = (
                f"the engine double has no manifest for {reference}: its digest is not the one "
                f"ci/src/clarity/_images.py pins for {key!r}, so it is another image; pin the "
                "same digest in both, or add a manifest for it"
            )
            raise GraphQLError(msg)
    for path in sorted(MANIFESTS.glob("*.toml")):
        if manifest(path.stem).repository == repository:
            return path.stem
    msg = (
        f"the engine double has no manifest for the base image {reference}: add "
        f"{MANIFESTS.name}/<name>.toml with repository = {repository!r}"
    )
    raise GraphQLError(msg)


def pristine(key: str) -> ContainerState:
    """A container of image ``key`` as pulled: nothing mounted, nothing run."""
    spec = manifest(key)
    tree: dict[str, Entry] = {}
    for directory in spec.directories:
        mode = 0o1777 if directory == "/tmp" else 0o755
        tree = with_entry(tree, normalise(directory), DirEntry(mode=mode))
    for path, uid, gid in spec.owners:
        tree = with_entry(tree, normalise(path), DirEntry(uid=uid, gid=gid))
    for binary in spec.binaries:
        stub = FileEntry(content=f"modelled {binary}\n".encode(), mode=0o755)
        tree = with_entry(tree, normalise(binary), stub)
    return ContainerState(
        image=key,
        rootfs=tree,
        users=spec.users,
        user=spec.user,
        workdir=spec.workdir,
        env=spec.env,
        entrypoint=spec.entrypoint,
        cmd=spec.cmd,
    )
