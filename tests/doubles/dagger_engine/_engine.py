"""Evaluating container recipes: pure steps, execs through tool contracts, the exec cache.

A container is evaluated lazily, when a query needs its state (an exec's output, a file,
a publish). Each step's resulting state is memoized by the step's digest for the
engine's lifetime, which is the engine's cache: an exec whose recipe is unchanged is not
run again, and does not appear in ``World.executions``. Concurrent evaluations of one
digest wait for each other, as BuildKit deduplicates them. An exec that fails is not
memoized, so evaluating it again runs it again.
"""

from __future__ import annotations

import contextlib
import posixpath
import threading
from dataclasses import replace
from typing import Any

from graphql import GraphQLError

from tests.doubles.dagger_engine import _dockerfile, _values
from tests.doubles.dagger_engine._fs import (
    DirEntry,
    FileEntry,
    Tree,
    ignored,
    normalise,
    subtree,
    with_entry,
    with_tree,
)
from tests.doubles.dagger_engine._manifests import base_key, image_key, pristine
from tests.doubles.dagger_engine._objects import (
    CacheVolume,
    Container,
    Directory,
    File,
    Store,
)
from tests.doubles.dagger_engine._services import Services
from tests.doubles.dagger_engine._state import (
    ContainerState,
    ExecFsError,
    ExecResult,
    ExecView,
    Mount,
    RunningService,
    expand,
)
from tests.doubles.dagger_engine._world import Execution, World
from tests.doubles.dagger_engine.contracts import Exec, Outcome, contract_for

__all__ = ["Engine", "ExecFailed", "directory_entries"]


class ExecFailed(GraphQLError):
    """An exec ended with an exit code its ``expect`` does not allow."""

    def __init__(self, argv: tuple[str, ...], outcome: Outcome) -> None:
        command = " ".join(argv)
        super().__init__(
            f'process "{command}" did not complete successfully: exit code: {outcome.exit_code}',
            extensions={
                "_type": "EXEC_ERROR",
                "cmd": list(argv),
                "exitCode": outcome.exit_code,
                "stdout": outcome.stdout,
                "stderr": outcome.stderr,
            },
        )


class Engine:
    """The model of the engine: objects by ID, container evaluation, the world outside."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.store = Store()
        self._states: dict[str, ContainerState] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.services = Services(world, lambda service: self.state(service.container), self.process)

    # ------------------------------------------------------------------ evaluation

    def state(self, container: Container) -> ContainerState:
        """The container's state, evaluating (and memoizing) its steps as needed."""
        with self._lock:
            known = self._states.get(container.digest)
            if known is not None:
                return known
            lock = self._locks.setdefault(container.digest, threading.Lock())
        with lock:
            with self._lock:
                known = self._states.get(container.digest)
            if known is not None:
                return known
            parent = self.state(container.parent) if container.parent is not None else None
            result = self._step(parent, container)
            with self._lock:
                self._states[container.digest] = result
            return result

    def _step(self, st: ContainerState | None, c: Container) -> ContainerState:
        a = c.args
        if c.op == "container":
            return ContainerState(image="scratch", rootfs={}, users=(("root", 0, 0),))
        if c.op == "dockerBuild":
            context: Directory = a["context"]
            return _dockerfile.build(
                _values.tree(self, context),
                a["dockerfile"],
                target=a.get("target") or "",
                run=self._build_step,
                base=lambda reference: pristine(base_key(reference)),
            )
        assert st is not None
        env = st.env_dict()

        def path(key: str = "path") -> str:
            raw = expand(a[key], env) if a.get("expand") else a[key]
            return normalise(posixpath.join(st.workdir, raw))

        match c.op:
            case "from":
                return pristine(image_key(a["address"]))
            case "withEnvVariable":
                value = expand(a["value"], env) if a.get("expand") else a["value"]
                return st.with_env(a["name"], value)
            case "withSecretVariable":
                kept = tuple((n, s) for n, s in st.secret_env if n != a["name"])
                return replace(st, secret_env=(*kept, (a["name"], a["secret"])))
            case "withUser":
                return replace(st, user=a["name"])
            case "withWorkdir":
                return replace(st, workdir="/" + path())
            case "withDirectory":
                return self._with_directory(st, path(), a)
            case "withFile" | "withNewFile":
                return self._with_file(st, path(), a, c.op)
            case "withMountedCache":
                uid, gid = self._owner(st, a.get("owner", ""))
                cache: CacheVolume = a["cache"]
                mount = Mount(
                    path=path(), kind="cache", cache=cache, sharing=a["sharing"], uid=uid, gid=gid
                )
                return st.with_mount(mount)
            case "withMountedSecret":
                uid, gid = self._owner(st, a.get("owner", ""))
                # The mode takes effect only with an owner (Container.withMountedSecret docs).
                mode = a["mode"] if a.get("owner") else 0o400
                return st.with_mount(
                    Mount(
                        path=path(), kind="secret", secret=a["source"], uid=uid, gid=gid, mode=mode
                    )
                )
            case "withMountedFile":
                uid, gid = self._owner(st, a.get("owner", ""))
                source: File = a["source"]
                entry = _values.file_entry(self, source)
                return st.with_mount(Mount(path=path(), kind="file", file=entry, uid=uid, gid=gid))
            case "withMountedDirectory":
                uid, gid = self._owner(st, a.get("owner", ""))
                directory: Directory = a["source"]
                mounted = _values.tree(self, directory)
                return st.with_mount(
                    Mount(path=path(), kind="directory", tree=mounted, uid=uid, gid=gid)
                )
            case "withExposedPort":
                return replace(st, exposed=(*st.exposed, int(a["port"])))
            case "withServiceBinding":
                kept_services = tuple((n, s) for n, s in st.services if n != a["alias"])
                return replace(st, services=(*kept_services, (a["alias"], a["service"])))
            case "withRegistryAuth":
                host = a["address"].split("/", 1)[0]
                kept_auths = tuple(x for x in st.auths if x[0] != host)
                return replace(st, auths=(*kept_auths, (host, a["username"], a["secret"])))
            case "withExec":
                return self._exec(st, a)
        msg = f"the engine double does not model Container.{c.op}"
        raise GraphQLError(msg)

    @staticmethod
    def _owner(st: ContainerState, owner: str) -> tuple[int, int]:
        try:
            return st.ids(owner)
        except ExecFsError as exc:
            raise GraphQLError(str(exc)) from None

    def _with_directory(self, st: ContainerState, key: str, a: dict[str, Any]) -> ContainerState:
        directory: Directory = a["source"]
        source = _values.tree(self, directory)
        tree = {k: e for k, e in source.items() if not ignored(k, a.get("exclude") or [])}
        uid, gid = self._owner(st, a.get("owner", ""))
        owned = a.get("owner") not in (None, "")
        return replace(
            st,
            rootfs=with_tree(
                st.rootfs, key, tree, uid=uid if owned else None, gid=gid if owned else None
            ),
        )

    def _with_file(
        self, st: ContainerState, key: str, a: dict[str, Any], op: str
    ) -> ContainerState:
        uid, gid = self._owner(st, a.get("owner", ""))
        if op == "withNewFile":
            content = a["contents"].encode()
            mode = a["permissions"]
        else:
            source = _values.file_entry(self, a["source"])
            content, mode = source.content, a.get("permissions") or source.mode
        entry = FileEntry(content=content, mode=mode, uid=uid, gid=gid)
        return replace(st, rootfs=with_entry(st.rootfs, key, entry))

    # ------------------------------------------------------------------ exec

    def _exec(self, st: ContainerState, a: dict[str, Any]) -> ContainerState:
        env = st.env_dict()
        argv = tuple(expand(x, env) if a.get("expand") else x for x in a["args"])
        uid, gid = self._owner(st, st.user)
        view = ExecView(rootfs=dict(st.rootfs), mounts=st.mounts, uid=uid, gid=gid)
        if not view.is_dir(st.workdir):
            view.mkdir(st.workdir)  # BuildKit creates a missing working directory
        full_env = env | {name: secret.plaintext for name, secret in st.secret_env}
        with self.services.bound(st.services) as bound:
            outcome = self.process(st, argv, full_env, view, bound)
        outcome = self._redirect(view, a, outcome)
        self.world.record(
            Execution(
                image=st.image,
                argv=argv,
                user=st.user,
                env=tuple(full_env),
                exit_code=outcome.exit_code,
                secrets=tuple(name for name, _ in st.secret_env),
            )
        )
        expect = a.get("expect", "SUCCESS")
        if (expect == "SUCCESS" and outcome.exit_code != 0) or (
            expect == "FAILURE" and outcome.exit_code == 0
        ):
            raise ExecFailed(argv, outcome)
        last = ExecResult(
            argv=argv, exit_code=outcome.exit_code, stdout=outcome.stdout, stderr=outcome.stderr
        )
        return replace(st, rootfs=view.rootfs, last=last)

    def _build_step(self, st: ContainerState, argv: tuple[str, ...]) -> ContainerState:
        """A Dockerfile RUN: the process as root or the stage's USER, no services, no mounts."""
        uid, gid = self._owner(st, st.user)
        view = ExecView(rootfs=dict(st.rootfs), mounts=(), uid=uid, gid=gid)
        if not view.is_dir(st.workdir):
            view.mkdir(st.workdir)
        outcome = self.process(st, argv, st.env_dict(), view, {})
        if outcome.exit_code != 0:
            raise ExecFailed(argv, outcome)
        return replace(st, rootfs=view.rootfs)

    def process(
        self,
        st: ContainerState,
        argv: tuple[str, ...],
        env: dict[str, str],
        view: ExecView,
        bound: dict[str, RunningService],
    ) -> Outcome:
        """Run ``argv`` through its tool's contract, as the exec's process would run."""
        program = view.which(argv[0], env.get("PATH", "")) if argv else None
        if program is None:
            name = argv[0] if argv else ""
            if "/" in name:  # a path is not looked up: runc stats it
                return Outcome(
                    exit_code=127,
                    stderr=f'exec: "{name}": stat {name}: no such file or directory\n',
                )
            return Outcome(
                exit_code=127, stderr=f'exec: "{name}": executable file not found in $PATH\n'
            )
        ex = Exec(
            argv=argv,
            program=program,
            env=env,
            cwd=st.workdir,
            user=st.user,
            fs=view,
            world=self.world,
            state=st,
            image=st.image,
            bound=bound,
        )
        with contextlib.ExitStack() as stack:
            for mount in st.mounts:
                if mount.kind == "cache" and mount.sharing == "LOCKED" and mount.cache:
                    stack.enter_context(self.world.locked_volume(mount.cache.key))
            try:
                return contract_for(posixpath.basename(program))(ex)
            except ExecFsError as exc:  # a read the contract did not expect to fail
                return Outcome(exit_code=1, stderr=f"{exc}\n")

    @staticmethod
    def _redirect(view: ExecView, a: dict[str, Any], outcome: Outcome) -> Outcome:
        for key, stream in (("redirectStdout", "stdout"), ("redirectStderr", "stderr")):
            target = a.get(key) or ""
            if not target:
                continue
            try:
                view.write(target, getattr(outcome, stream).encode())
            except ExecFsError as exc:
                return Outcome(
                    exit_code=1, stdout=outcome.stdout, stderr=f"{outcome.stderr}{exc}\n"
                )
            outcome = (
                replace(outcome, stdout="") if stream == "stdout" else replace(outcome, stderr="")
            )
        return outcome

    # ------------------------------------------------------------------ reading

    @staticmethod
    def image_digest(container: Container) -> str:
        """The image's identity: its recipe without the steps that do not change its content."""
        while container.op == "withRegistryAuth" and container.parent is not None:
            container = container.parent
        return container.digest

    def publish(self, container: Container, address: str) -> str:
        """Push to the registry stand-in; ``address@sha256:...`` as the engine returns it."""
        st = self.state(container)
        host = address.split("/", 1)[0]
        if not any(auth[0] == host for auth in st.auths):
            msg = f"failed to push {address}: failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"
            raise GraphQLError(msg)
        digest = self.world.push(address, self.image_digest(container))
        return f"{address}@{digest}"


def directory_entries(tree: Tree, path: str | None) -> list[str]:
    """``Directory.entries``: names directly below ``path``."""
    key = normalise(path or "")
    if key and not isinstance(tree.get(key), DirEntry):
        msg = f"lstat {key}: no such file or directory"
        raise GraphQLError(msg)
    return sorted({k.split("/")[0] for k in subtree(tree, key)})
