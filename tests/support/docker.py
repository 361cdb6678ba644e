"""Docker for the container tests and the image benchmark: engine, builds, containers, registry.

Nothing here installs anything: the Debian packages (``docker.io``, ``docker-registry``, ...)
and the local base images come from ``make provision`` (:mod:`tests.support.provision`), and a
missing one is a :class:`DockerSetupError` that says to run it. Nothing pulls from an image
registry either: the Dockerfiles take their base and uv images as build arguments, and
:mod:`tests.support.local_images` supplies local stand-ins for both.

The engine: a daemon that already answers (``DOCKER_HOST`` or ``/var/run/docker.sock``) is
reused and left alone; otherwise :func:`start_engine` starts ``dockerd`` with its own socket,
pid file and exec root, without a bridge or iptables rules (builds and containers use the
host network), so it cannot disturb anything else on the machine. Its data root is a cache
directory kept between runs (where provisioning puts the base images), locked while in use;
a session that cannot have it within a short wait gets a throw-away data root instead.
:meth:`DockerEngine.stop` stops only a daemon this module started, by process group.

Errors: every expected failure raises :class:`DockerSetupError` (a ``RuntimeError``) with a
message that says what failed and what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.processes import ManagedProcess, free_port, wait_for, wait_for_http

__all__ = [
    "CACHE_ROOT",
    "DEBIAN_PACKAGES",
    "DOCKER_CLIENT",
    "PERSISTENT_DATA_ROOT",
    "REPO_ROOT",
    "SERVICES",
    "BuildResult",
    "DataRootBusy",
    "DockerEngine",
    "DockerSetupError",
    "LocalRegistry",
    "Service",
    "build_service_image",
    "default_ca_bundle",
    "require_commands",
    "running_container",
    "start_engine",
    "start_registry",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

# Debian's client (docker.io). A newer client that may come first on PATH has no buildx
# plugin and fails as soon as BuildKit is on.
DOCKER_CLIENT = Path("/usr/bin/docker")

# command -> the Debian package that provides it; `make provision` installs them all.
DEBIAN_PACKAGES: Mapping[str, str] = {
    "dockerd": "docker.io",
    "docker": "docker.io",
    "debootstrap": "debootstrap",
    "docker-registry": "docker-registry",
    "docker-compose": "docker-compose",
}
# Where Debian puts each command (sbin is not on every user's PATH).
_COMMAND_PATHS: Mapping[str, Path] = {
    "dockerd": Path("/usr/sbin/dockerd"),
    "docker": DOCKER_CLIENT,
    "debootstrap": Path("/usr/sbin/debootstrap"),
    "docker-registry": Path("/usr/bin/docker-registry"),
    "docker-compose": Path("/usr/bin/docker-compose"),
}

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clarity-loop"
# How long a session waits for the persistent data root (provisioning holds it for seconds)
# before it settles for a throw-away one.
_DATA_ROOT_WAIT = 60.0


class DockerSetupError(RuntimeError):
    """Docker, a tool it needs or an image could not be set up; the message says what to do."""


@dataclass(frozen=True)
class Service:
    """One backend service and the Dockerfile that packages it."""

    name: str
    module: str

    @property
    def dockerfile(self) -> Path:
        """The service's Dockerfile (the build context is the repository root)."""
        return REPO_ROOT / "docker" / self.name / "Dockerfile"


SERVICES: tuple[Service, ...] = (
    Service("api-gateway", "api_gateway"),
    Service("ml-service", "ml_service"),
)


def require_commands(*commands: str) -> dict[str, Path]:
    """The Debian programs behind ``commands``; a missing one says to run ``make provision``."""
    unknown = [c for c in commands if c not in DEBIAN_PACKAGES]
    if unknown:
        msg = f"no Debian package known for {unknown}; add it to DEBIAN_PACKAGES"
        raise DockerSetupError(msg)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for command in commands:
        path = _COMMAND_PATHS[command]
        if path.is_file() and os.access(path, os.X_OK):
            found[command] = path
        else:
            missing.append(f"{command} ({DEBIAN_PACKAGES[command]})")
    if missing:
        msg = f"{', '.join(missing)} not installed: run `make provision` (it installs the suite's Debian packages)"
        raise DockerSetupError(msg)
    return found


def default_ca_bundle() -> Path | None:
    """The CA bundle the host trusts (``SSL_CERT_FILE`` or Debian's), for the builder stage only."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


# ---------------------------------------------------------------- engine


@dataclass
class DockerEngine:
    """A Docker daemon and the Debian client pointed at it."""

    host: str
    config_dir: Path
    process: ManagedProcess | None = None
    data_root: Path | None = None
    run_dir: Path | None = None
    _lock: IO[bytes] | None = field(default=None, repr=False)

    @property
    def persistent(self) -> bool:
        """True when images built here are kept for later sessions (the cached data root)."""
        return self.data_root == PERSISTENT_DATA_ROOT

    @property
    def owned(self) -> bool:
        """True when this session started the daemon (and so stops it)."""
        return self.process is not None

    def env(self) -> dict[str, str]:
        """Environment for the client: this daemon, BuildKit on, an empty client config."""
        return {
            **os.environ,
            "DOCKER_HOST": self.host,
            "DOCKER_BUILDKIT": "1",
            # An empty config directory: no credential helper or stored login is consulted.
            "DOCKER_CONFIG": str(self.config_dir),
        }

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600.0,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS``; raise :class:`DockerSetupError` with its output if it fails."""
        result = subprocess.run(
            [str(DOCKER_CLIENT), *args],
            env=self.env(),
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            msg = (
                f"`docker {' '.join(args)}` failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
            raise DockerSetupError(msg)
        return result

    def answers(self) -> bool:
        """True when the daemon answers ``docker version``."""
        try:
            return (
                self.run(
                    "version", "--format", "{{.Server.Version}}", check=False, timeout=10
                ).returncode
                == 0
            )
        except subprocess.TimeoutExpired:
            return False

    def image_exists(self, ref: str) -> bool:
        """True when ``ref`` is present in the engine."""
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def image_id(self, ref: str) -> str:
        """The image id (config digest) of ``ref``."""
        image_id: str = self.run("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
        return image_id

    def image_size(self, ref: str) -> int:
        """The uncompressed size of ``ref`` in bytes, as ``docker images`` reports it."""
        return int(self.run("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())

    def stop(self) -> None:
        """Stop the daemon if this session started it; release the data-root lock."""
        if self.process is not None:
            self.process.stop(grace=20.0)
            self.process = None
        if self.run_dir is not None:
            _unmount_below(self.run_dir)
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _unmount_below(directory: Path) -> None:
    """Unmount what dockerd left mounted under its exec root (the default netns bind mount)."""
    prefix = f"{directory}/"
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    targets = [
        fields[1] for fields in (line.split() for line in mounts) if fields[1].startswith(prefix)
    ]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", target], capture_output=True, check=False)


def _existing_engine(config_dir: Path) -> DockerEngine | None:
    hosts = [os.environ.get("DOCKER_HOST", ""), "unix:///var/run/docker.sock"]
    for host in filter(None, hosts):
        if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
            continue
        engine = DockerEngine(host=host, config_dir=config_dir)
        if engine.answers():
            return engine
    return None


PERSISTENT_DATA_ROOT = CACHE_ROOT / "docker-data-root"


class DataRootBusy(DockerSetupError):
    """Another session's dockerd holds the persistent data root."""


def _lock_data_root(workdir: Path, *, wait: float) -> tuple[Path, IO[bytes] | None]:
    """The persistent data root once free (locked for this session), else a throw-away one."""
    PERSISTENT_DATA_ROOT.parent.mkdir(parents=True, exist_ok=True)
    lock = (CACHE_ROOT / "docker-data-root.lock").open("wb")
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock.close()
                return workdir / "data-root", None
            time.sleep(0.5)
        else:
            return PERSISTENT_DATA_ROOT, lock


def start_engine(
    workdir: Path,
    *,
    reuse_running: bool = True,
    timeout: float = 60.0,
    data_root_wait: float = _DATA_ROOT_WAIT,
    persistent_only: bool = False,
) -> DockerEngine:
    """Reuse a running daemon, or start ``dockerd`` in its own process group under ``workdir``.

    ``persistent_only`` (provisioning) raises :class:`DataRootBusy` instead of falling back
    to a throw-away data root when another session holds the persistent one.
    """
    dockerd = require_commands("dockerd", "docker")["dockerd"]
    workdir.mkdir(parents=True, exist_ok=True)
    config_dir = workdir / "client-config"
    config_dir.mkdir(exist_ok=True)
    if reuse_running and (engine := _existing_engine(config_dir)) is not None:
        return engine
    if os.geteuid() != 0:
        msg = "no Docker daemon answers and starting dockerd needs root; start one or run as root"
        raise DockerSetupError(msg)
    data_root, lock = _lock_data_root(workdir, wait=data_root_wait)
    if persistent_only and lock is None:
        msg = f"another session's dockerd holds {PERSISTENT_DATA_ROOT}"
        raise DataRootBusy(msg)
    # Unix socket paths are limited to 107 bytes; keep the run directory short.
    run_dir = Path(f"/run/clarity-dockerd-{os.getpid()}-{free_port()}")
    run_dir.mkdir(parents=True)
    socket = run_dir / "docker.sock"
    process = ManagedProcess(
        [
            str(dockerd),
            f"--data-root={data_root}",
            f"--exec-root={run_dir / 'exec'}",
            f"--pidfile={run_dir / 'docker.pid'}",
            f"--host=unix://{socket}",
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--log-level=warn",
        ],
        log_path=workdir / "dockerd.log",
    ).start()
    engine = DockerEngine(
        host=f"unix://{socket}",
        config_dir=config_dir,
        process=process,
        data_root=data_root,
        run_dir=run_dir,
        _lock=lock,
    )
    try:
        wait_for(
            lambda: process.poll() is not None or engine.answers(), timeout=timeout, what="dockerd"
        )
    except BaseException:
        engine.stop()
        raise
    if process.poll() is not None:
        log = process.log_tail()
        engine.stop()
        msg = f"dockerd exited at start:\n{log}"
        raise DockerSetupError(msg)
    return engine


# ---------------------------------------------------------------- builds


@dataclass(frozen=True)
class BuildResult:
    """A built service image and how long the build took."""

    tag: str
    seconds: float


def build_service_image(
    engine: DockerEngine,
    service: Service,
    *,
    tag: str,
    base_image: str,
    uv_image: str,
    ca_bundle: Path | None = None,
    log_path: Path | None = None,
    context: Path = REPO_ROOT,
    extra_args: Sequence[str] = (),
) -> BuildResult:
    """Build ``service``'s Dockerfile; the build context is the repository root by default."""
    argv = [
        "build",
        "--network=host",
        "--progress=plain",
        "--file",
        str(service.dockerfile),
        "--tag",
        tag,
        "--build-arg",
        f"PYTHON_IMAGE={base_image}",
        "--build-arg",
        f"UV_IMAGE={uv_image}",
        *extra_args,
    ]
    if ca_bundle is not None:
        argv += ["--secret", f"id=ca_bundle,src={ca_bundle}"]
    argv.append(str(context))
    started = time.monotonic()
    result = engine.run(*argv, check=False, timeout=1200)
    seconds = time.monotonic() - started
    if log_path is not None:
        log_path.write_text(result.stderr)
    if result.returncode != 0:
        msg = f"building {service.name} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        raise DockerSetupError(msg)
    return BuildResult(tag=tag, seconds=seconds)


@contextlib.contextmanager
def running_container(
    engine: DockerEngine,
    image: str,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    command: Sequence[str] = (),
) -> Iterator[str]:
    """Run ``image`` detached on the host network; yield its name; remove it afterwards."""
    name = f"clarity-test-{os.getpid()}-{free_port()}"
    env_args = [item for key, value in (env or {}).items() for item in ("--env", f"{key}={value}")]
    engine.run(
        "run", "--detach", "--network=host", "--name", name, *env_args, *args, image, *command
    )
    try:
        yield name
    finally:
        engine.run("rm", "--force", name, check=False)


# ---------------------------------------------------------------- registry


_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


@dataclass
class LocalRegistry:
    """Debian's ``docker-registry`` on 127.0.0.1 with its storage in a temporary directory."""

    address: str
    process: ManagedProcess

    def _get(self, path: str, *, method: str = "GET") -> httpx.Response:
        response = httpx.request(
            method,
            f"http://{self.address}/v2/{path}",
            headers={"Accept": _MANIFEST_TYPES},
            timeout=60.0,
        )
        response.raise_for_status()
        return response

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The ``Docker-Content-Digest`` the registry reports for ``repository:reference``."""
        digest: str = self._get(f"{repository}/manifests/{reference}", method="HEAD").headers[
            "Docker-Content-Digest"
        ]
        return digest

    def manifest(self, repository: str, reference: str) -> dict[str, Any]:
        """The image manifest of ``repository:reference`` (tag or digest)."""
        manifest: dict[str, Any] = self._get(f"{repository}/manifests/{reference}").json()
        return manifest

    def blob(self, repository: str, digest: str) -> bytes:
        """The content of a blob (config or layer) by digest."""
        return self._get(f"{repository}/blobs/{digest}").content

    def stop(self) -> None:
        """Stop the registry's process group."""
        self.process.stop()


def start_registry(workdir: Path) -> LocalRegistry:
    """Start ``docker-registry serve`` on a free port; wait until ``/v2/`` answers."""
    registry = require_commands("docker-registry")["docker-registry"]
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "registry.yml"
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {
                    "filesystem": {"rootdirectory": str(workdir / "storage")},
                    "delete": {"enabled": True},
                },
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    process = ManagedProcess(
        [str(registry), "serve", str(config)], log_path=workdir / "registry.log"
    ).start()
    try:
        wait_for_http(
            f"http://127.0.0.1:{port}/v2/", timeout=30.0, ok=lambda r: r.status_code == 200
        )
    except TimeoutError as exc:
        process.stop()
        msg = f"docker-registry did not answer:\n{process.log_tail()}"
        raise DockerSetupError(msg) from exc
    return LocalRegistry(address=f"127.0.0.1:{port}", process=process)
