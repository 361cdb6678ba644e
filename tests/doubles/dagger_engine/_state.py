"""A container's state, and the filesystem view an exec sees.

:class:`ContainerState` is what the engine tracks between steps: the root filesystem, the
mounts (caches with their sharing mode, secrets and files with owner and mode,
directories), user, environment (values and secret variables), working directory, exposed
ports, bound services, registry credentials, the image's default command (entrypoint and
arguments) and the last exec's result. :class:`RunningService` is what a started service
shows the processes bound to it: its command, environment, ports and its own bindings.
:class:`ExecView` is the filesystem during one exec: reads and writes go through it with
the exec's user, and fail the way the kernel would (``open PATH: permission denied``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from tests.doubles.dagger_engine._fs import DirEntry, Entry, FileEntry, Tree, normalise, subtree
from tests.doubles.dagger_engine._objects import CacheVolume, Secret, Service

__all__ = [
    "ContainerState",
    "ExecFsError",
    "ExecResult",
    "ExecView",
    "Mount",
    "RunningService",
    "expand",
]


class ExecFsError(Exception):
    """A filesystem call failed inside an exec; the message is the syscall error's."""


@dataclass(frozen=True, kw_only=True)
class Mount:
    """Something mounted over the root filesystem at ``path`` (a tree key)."""

    path: str
    kind: str  # "cache" | "secret" | "file" | "directory"
    cache: CacheVolume | None = None
    sharing: str = "SHARED"
    secret: Secret | None = None
    file: FileEntry | None = None
    tree: Tree | None = None
    uid: int = 0
    gid: int = 0
    mode: int = 0o400


@dataclass(frozen=True, kw_only=True)
class ExecResult:
    """What the last exec left: argv, exit code, output."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True, kw_only=True)
class ContainerState:
    """Everything a step can change."""

    image: str
    rootfs: Tree
    users: tuple[tuple[str, int, int], ...]
    user: str = "root"
    workdir: str = "/"
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, Secret], ...] = ()
    mounts: tuple[Mount, ...] = ()
    exposed: tuple[int, ...] = ()
    services: tuple[tuple[str, Service], ...] = ()
    auths: tuple[tuple[str, str, Secret], ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    last: ExecResult | None = None

    def env_dict(self) -> dict[str, str]:
        """The plain environment variables."""
        return dict(self.env)

    def with_env(self, name: str, value: str) -> ContainerState:
        """A copy with ``name`` set (replacing an earlier value in place)."""
        env = [(k, v) for k, v in self.env if k != name]
        env.append((name, value))
        return replace(self, env=tuple(env))

    def with_mount(self, mount: Mount) -> ContainerState:
        """A copy with ``mount`` replacing any mount at the same path."""
        mounts = [m for m in self.mounts if m.path != mount.path]
        return replace(self, mounts=(*mounts, mount))

    def ids(self, owner: str) -> tuple[int, int]:
        """``user[:group]`` (names or numbers) as uid and gid; ``""`` is root."""
        if not owner:
            return 0, 0
        user, _, group = owner.partition(":")
        known = {name: (uid, gid) for name, uid, gid in self.users} | self._accounts("passwd")
        uid, gid = known.get(user, (int(user), int(user)) if user.isdigit() else (-1, -1))
        if uid < 0:
            msg = f"unable to find user {user}: no matching entries in passwd file"
            raise ExecFsError(msg)
        if group:
            groups = {name: ids[1] for name, ids in known.items()} | {
                name: ids[0] for name, ids in self._accounts("group").items()
            }
            gid = int(group) if group.isdigit() else groups.get(group, gid)
        return uid, gid

    def _accounts(self, database: str) -> dict[str, tuple[int, int]]:
        """Accounts a build added to ``/etc/<database>`` (name -> first two ids)."""
        entry = self.rootfs.get(f"etc/{database}")
        if not isinstance(entry, FileEntry):
            return {}
        found = {}
        for line in entry.content.decode().splitlines():
            fields = line.split(":")
            if len(fields) >= 3 and fields[2].isdigit():
                gid = fields[3] if len(fields) > 3 and fields[3].isdigit() else fields[2]
                found[fields[0]] = (int(fields[2]), int(gid))
        return found


@dataclass(frozen=True, kw_only=True)
class RunningService:
    """A started service as the containers bound to it see it."""

    alias: str
    """The alias it was first started under."""
    digest: str
    instance: str
    """This run of the recipe: a service stopped and started again is a new instance."""
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    """Its plain environment variables (secret variables are not kept)."""
    exposed: tuple[int, ...]
    listening: tuple[str, ...]
    """``host:port`` addresses its process listens on."""
    bindings: tuple[tuple[str, RunningService], ...]

    def env_dict(self) -> dict[str, str]:
        """The plain environment variables."""
        return dict(self.env)

    def bound(self) -> dict[str, RunningService]:
        """Alias -> the services this one is bound to."""
        return dict(self.bindings)


def expand(text: str, env: dict[str, str]) -> str:
    """``$VAR`` and ``${VAR}`` replaced from ``env`` (unknown variables become empty)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            if text[i + 1] == "{" and "}" in text[i:]:
                end = text.index("}", i)
                out.append(env.get(text[i + 2 : end], ""))
                i = end + 1
                continue
            j = i + 1
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j > i + 1:
                out.append(env.get(text[i + 1 : j], ""))
                i = j
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


@dataclass
class ExecView:
    """The filesystem as one exec sees it, with that exec's uid and gid."""

    rootfs: dict[str, Entry]
    mounts: tuple[Mount, ...]
    uid: int
    gid: int
    written: list[str] = field(default_factory=list)

    def _mount_of(self, key: str) -> tuple[Mount, str] | None:
        best: tuple[Mount, str] | None = None
        for mount in self.mounts:
            if key == mount.path or key.startswith(f"{mount.path}/"):
                rest = key[len(mount.path) :].lstrip("/")
                if best is None or len(mount.path) > len(best[0].path):
                    best = (mount, rest)
        return best

    def entry(self, path: str) -> Entry | None:
        """What is at ``path``, mounts first."""
        key = normalise(path)
        if not key:
            return DirEntry()
        found = self._mount_of(key)
        if found is None:
            return self.rootfs.get(key)
        mount, rest = found
        if mount.kind == "secret" and not rest and mount.secret is not None:
            data = mount.secret.plaintext.encode()
            return FileEntry(content=data, mode=mount.mode, uid=mount.uid, gid=mount.gid)
        if mount.kind == "file" and not rest and mount.file is not None:
            f = mount.file
            return FileEntry(content=f.content, mode=f.mode, uid=mount.uid, gid=mount.gid)
        if mount.kind in ("cache", "directory"):
            if not rest:
                return DirEntry(uid=mount.uid, gid=mount.gid)
            return (mount.tree or {}).get(rest)
        return None

    def exists(self, path: str) -> bool:
        """True if something is at ``path``."""
        return self.entry(path) is not None

    def is_dir(self, path: str) -> bool:
        """True if ``path`` is a directory."""
        return isinstance(self.entry(path), DirEntry)

    def is_file(self, path: str) -> bool:
        """True if ``path`` is a regular file."""
        return isinstance(self.entry(path), FileEntry)

    def _allowed(self, entry: Entry, bit: int) -> bool:
        if self.uid == 0:
            return True
        if entry.uid == self.uid:
            return bool(entry.mode & (bit << 6))
        if entry.gid == self.gid:
            return bool(entry.mode & (bit << 3))
        return bool(entry.mode & bit)

    def read(self, path: str) -> bytes:
        """The file's bytes, or the error ``open`` would give."""
        entry = self.entry(path)
        if entry is None:
            msg = f"open {path}: no such file or directory"
            raise ExecFsError(msg)
        if isinstance(entry, DirEntry):
            msg = f"read {path}: is a directory"
            raise ExecFsError(msg)
        if not self._allowed(entry, 0o4):
            msg = f"open {path}: permission denied"
            raise ExecFsError(msg)
        return entry.content

    def read_text(self, path: str) -> str:
        """The file as text."""
        return self.read(path).decode()

    def write(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Create or replace a file; its directory must exist, as for ``open(O_CREAT)``."""
        key = normalise(path)
        parent = posixpath.dirname(key)
        if parent and not self.is_dir("/" + parent):
            msg = f"open {path}: no such file or directory"
            raise ExecFsError(msg)
        found = self._mount_of(key)
        if found is not None and found[0].kind in ("secret", "file"):
            msg = f"open {path}: read-only file system"
            raise ExecFsError(msg)
        if found is None:
            self.rootfs[key] = FileEntry(content=data, mode=mode, uid=self.uid, gid=self.gid)
            self.written.append(key)

    def mkdir(self, path: str) -> None:
        """``mkdir -p``."""
        key = normalise(path)
        parts = key.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            entry = self.entry("/" + sub)
            if isinstance(entry, FileEntry):
                msg = f"mkdir {path}: not a directory"
                raise ExecFsError(msg)
            if entry is None and self._mount_of(sub) is None:
                self.rootfs[sub] = DirEntry(uid=self.uid, gid=self.gid)

    def listdir(self, path: str) -> list[str]:
        """Names directly below ``path`` (root filesystem and mounts)."""
        key = normalise(path)
        names = {k.split("/")[0] for k in subtree(self.rootfs, key)}
        found = self._mount_of(key)
        if found is not None and found[0].tree is not None:
            rest = found[1]
            names |= {k.split("/")[0] for k in subtree(found[0].tree, rest)}
        for mount in self.mounts:
            if posixpath.dirname(mount.path) == key:
                names.add(posixpath.basename(mount.path))
        return sorted(n for n in names if n)

    def which(self, program: str, search_path: str) -> str | None:
        """The executable ``program`` names, as ``execve`` with PATH would find it."""
        candidates = (
            [program]
            if "/" in program
            else [posixpath.join(d, program) for d in search_path.split(":") if d]
        )
        for candidate in candidates:
            entry = self.entry(candidate)
            if isinstance(entry, FileEntry) and entry.mode & 0o111:
                return normalise(candidate)
        return None

    def walk(self, path: str) -> Iterator[str]:
        """Every key at or below ``path`` in the root filesystem."""
        key = normalise(path)
        for k in self.rootfs:
            if k == key or k.startswith(f"{key}/"):
                yield k
