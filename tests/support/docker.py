"""Docker for the container tests and the image benchmark: engine, local images, builds, scans.

Nothing here pulls from an image registry. The Dockerfiles take their base and uv images as
build arguments (``PYTHON_IMAGE``, ``UV_IMAGE``); this module builds local stand-ins for both:
a Debian bookworm ``minbase`` root filesystem with ``python3`` (3.11, like the pinned
``python:3.11-slim-bookworm``) made by ``debootstrap`` from the mirror apt already uses and
loaded with ``docker import``, and a ``FROM scratch`` image holding the host's ``uv`` binary.
Both are cached by tag in the engine's data root, so a rerun skips them.

The engine: a daemon that already answers (``DOCKER_HOST`` or ``/var/run/docker.sock``) is
reused and left alone; otherwise :func:`start_engine` starts ``dockerd`` with its own socket,
pid file and exec root, without a bridge or iptables rules (builds and containers use the
host network), so it cannot disturb anything else on the machine. Its data root is a cache
directory kept between runs, locked while in use; a second concurrent session gets a
throw-away data root instead. :meth:`DockerEngine.stop` stops only a daemon this module
started, by process group.

Errors: every expected failure raises :class:`DockerSetupError` (a ``RuntimeError``) with a
message that says what failed and what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.processes import ManagedProcess, free_port, wait_for, wait_for_http

__all__ = [
    "APT_PACKAGES",
    "BASE_IMAGE_TAG",
    "DOCKER_CLIENT",
    "REPO_ROOT",
    "SERVICES",
    "BuildResult",
    "DockerEngine",
    "DockerSetupError",
    "Finding",
    "LocalRegistry",
    "Service",
    "build_base_image",
    "build_service_image",
    "build_uv_image",
    "debian_mirror",
    "default_ca_bundle",
    "ensure_apt_packages",
    "running_container",
    "scan_image",
    "start_engine",
    "start_registry",
    "uv_binary",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

# Debian's client (docker.io). A newer client that may come first on PATH has no buildx
# plugin and fails as soon as BuildKit is on.
DOCKER_CLIENT = Path("/usr/bin/docker")

# Bump the suffix when the recipe in build_base_image changes, so cached images are rebuilt.
BASE_IMAGE_TAG = "clarity-local/python:3.11-bookworm-minbase-1"
UV_IMAGE_REPOSITORY = "clarity-local/uv"

# command -> Debian package that provides it
APT_PACKAGES: Mapping[str, str] = {
    "dockerd": "docker.io",
    "debootstrap": "debootstrap",
    "docker-registry": "docker-registry",
    "docker-compose": "docker-compose",
}

_CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clarity-loop"


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


# ---------------------------------------------------------------- host packages


def ensure_apt_packages(commands: Sequence[str]) -> list[str]:
    """Install the Debian packages behind missing ``commands``; return the packages installed."""
    unknown = [c for c in commands if c not in APT_PACKAGES]
    if unknown:
        msg = f"no Debian package known for {unknown}; add it to APT_PACKAGES"
        raise DockerSetupError(msg)
    missing = sorted({APT_PACKAGES[c] for c in commands if shutil.which(c) is None})
    if "dockerd" in commands and not DOCKER_CLIENT.exists() and "docker.io" not in missing:
        missing.append("docker.io")
    if not missing:
        return []
    if os.geteuid() != 0:
        command = f"sudo apt-get install -y {' '.join(missing)}"
        msg = f"missing {missing}: install them (`{command}`) or run the tests as root"
        raise DockerSetupError(msg)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock_wait = ["-o", "DPkg::Lock::Timeout=600"]
    steps = [["apt-get", *lock_wait, "install", "-y", "-q", *missing]]
    if not _apt_lists_updated:
        steps.insert(0, ["apt-get", *lock_wait, "update", "-q"])
    for argv in steps:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            msg = f"`{' '.join(argv)}` failed ({result.returncode}):\n{result.stderr[-2000:]}"
            raise DockerSetupError(msg)
        if argv[-2:] == ["update", "-q"]:
            _mark_apt_lists_updated()
    return missing


_apt_lists_updated = False


def _mark_apt_lists_updated() -> None:
    global _apt_lists_updated  # noqa: PLW0603 - once per process is the point
    _apt_lists_updated = True


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt is configured with (deb822 ``.sources`` or one-line ``.list``)."""
    for path in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        entries = _deb822_entries(text) if path.suffix == ".sources" else _one_line_entries(text)
        for uri, suites, components in entries:
            if "bookworm" in suites and "main" in components:
                return uri
    msg = f"no Debian bookworm mirror found in {apt_dir}; configure apt or pass a mirror explicitly"
    raise DockerSetupError(msg)


def _deb822_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, _, value = line.partition(":")
            if not line.startswith("#") and value:
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("uris"):
            uri = fields["uris"].split()[0]
            yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


_ONE_LINE = re.compile(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$")


def _one_line_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    for line in text.splitlines():
        if match := _ONE_LINE.match(line.split("#", 1)[0].strip()):
            yield match[1], [match[2]], match[3].split()


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


def _lock_data_root(workdir: Path) -> tuple[Path, IO[bytes] | None]:
    """The persistent data root if free (locked for this session), else a throw-away one."""
    persistent = _CACHE_ROOT / "docker-data-root"
    persistent.parent.mkdir(parents=True, exist_ok=True)
    lock = (_CACHE_ROOT / "docker-data-root.lock").open("wb")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return workdir / "data-root", None
    return persistent, lock


def start_engine(
    workdir: Path, *, reuse_running: bool = True, timeout: float = 60.0
) -> DockerEngine:
    """Reuse a running daemon, or start ``dockerd`` in its own process group under ``workdir``."""
    ensure_apt_packages(["dockerd"])
    workdir.mkdir(parents=True, exist_ok=True)
    config_dir = workdir / "client-config"
    config_dir.mkdir(exist_ok=True)
    if reuse_running and (engine := _existing_engine(config_dir)) is not None:
        return engine
    if os.geteuid() != 0:
        msg = "no Docker daemon answers and starting dockerd needs root; start one or run as root"
        raise DockerSetupError(msg)
    data_root, lock = _lock_data_root(workdir)
    # Unix socket paths are limited to 107 bytes; keep the run directory short.
    run_dir = Path(f"/run/clarity-dockerd-{os.getpid()}-{free_port()}")
    run_dir.mkdir(parents=True)
    socket = run_dir / "docker.sock"
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    process = ManagedProcess(
        [
            dockerd,
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


# ---------------------------------------------------------------- local images


def build_base_image(
    engine: DockerEngine, workdir: Path, *, tag: str = BASE_IMAGE_TAG, mirror: str | None = None
) -> str:
    """Build (once; cached by tag) a bookworm minbase image with python3 via debootstrap."""
    if engine.image_exists(tag):
        return tag
    ensure_apt_packages(["debootstrap"])
    rootfs = workdir / "base-rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    argv = [
        debootstrap,
        "--variant=minbase",
        "--include=python3",
        "bookworm",
        str(rootfs),
        mirror or debian_mirror(),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-2000:]
        msg = f"debootstrap failed ({result.returncode}); is the Debian mirror reachable?\n{tail}"
        raise DockerSetupError(msg)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / leftover).glob("*"):
            if entry.is_file():
                entry.unlink()
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
    )
    try:
        imported = subprocess.run(
            [
                str(DOCKER_CLIENT),
                "import",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                'CMD ["/usr/bin/python3"]',
                "-",
                tag,
            ],
            stdin=tar.stdout,
            env=engine.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    if imported.returncode != 0 or tar.returncode != 0:
        msg = f"docker import of the debootstrap root failed:\n{imported.stderr[-2000:]}"
        raise DockerSetupError(msg)
    return tag


def uv_binary() -> Path:
    """The real uv executable (``uv run`` exports it as ``UV``; a PATH entry may be a shim)."""
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            with Path(candidate).open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    return Path(candidate)
    msg = "no uv executable found: run the tests through `uv run` (it sets UV) or put uv on PATH"
    raise DockerSetupError(msg)


def build_uv_image(engine: DockerEngine, workdir: Path) -> str:
    """Build (once; cached by tag) a ``FROM scratch`` image with the host's uv at ``/uv``."""
    uv = uv_binary()
    version = subprocess.run(
        [str(uv), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    tag = f"{UV_IMAGE_REPOSITORY}:{version}"
    if engine.image_exists(tag):
        return tag
    context = workdir / "uv-image"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy2(uv, context / "uv")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY uv /uv\n")
    engine.run("build", "--quiet", "-t", tag, str(context))
    return tag


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


# ---------------------------------------------------------------- secret scan


@dataclass(frozen=True)
class Finding:
    """Something secret-looking in an image: where (layer or config), what, and why."""

    where: str
    path: str
    reason: str


_SECRET_FILE_NAMES = re.compile(
    r"(^|/)(id_(rsa|dsa|ecdsa|ed25519)|\.env|\.netrc|\.pypirc|\.git-credentials|\.npmrc"
    r"|credentials\.json|application_default_credentials\.json|\.docker/config\.json"
    r"|[^/]+\.(p12|pfx|jks|keystore))$"
)
_SECRET_CONTENT = {
    # A PEM header followed by a key body: libraries and parsers carry the bare header string.
    "private key": re.compile(
        rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\r?\n"
        rb"(?:[\w-]+: [^\n]*\n)*\r?\n?(?:[A-Za-z0-9+/=]{40,}\r?\n){2}"
    ),
    "Google service-account key": re.compile(
        rb'"private_key"\s*:\s*"-----BEGIN [A-Z ]*PRIVATE KEY-----\\n[A-Za-z0-9+/=]{40,}'
    ),
    "AWS access key id": re.compile(rb"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Google API key": re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b"),
}
# Files that embed well-known, published test keys. Matched by path; each entry says why.
_KNOWN_TEST_KEYS: Mapping[re.Pattern[str], str] = {
    re.compile(r"^usr/lib/x86_64-linux-gnu/libgnutls\.so\.[\d.]+$"): "GnuTLS self-test (GOST) keys",
}
_SECRET_ENV_NAME = re.compile(
    r"(?i)(secret|token|passw(or)?d|api_?key|private_?key|credential|access_?key)"
)
_MAX_SCANNED_FILE = 32 * 1024 * 1024


# A cheap first pass: files without any of these strings need no closer look.
_CANDIDATE = re.compile(
    rb"PRIVATE KEY-----|\"private_key\"|AKIA[0-9A-Z]{16}"
    rb"|gh[pousr]_[A-Za-z0-9]{36}|AIza[0-9A-Za-z_-]{35}"
)


@dataclass(frozen=True)
class _Forbidden:
    """Contents that must not appear in a layer: (size, sha256); only same-size files are hashed."""

    sizes: frozenset[int]
    entries: frozenset[tuple[int, str]]

    @classmethod
    def of(cls, files: Sequence[Path]) -> _Forbidden:
        entries = set()
        for path in files:
            data = path.read_bytes()
            entries.add((len(data), hashlib.sha256(data).hexdigest()))
        return cls(frozenset(size for size, _ in entries), frozenset(entries))

    def matches(self, data: bytes) -> bool:
        return (
            len(data) in self.sizes
            and (len(data), hashlib.sha256(data).hexdigest()) in self.entries
        )


def _scan_bytes(data: bytes, forbidden: _Forbidden) -> list[str]:
    reasons = []
    if _CANDIDATE.search(data):
        reasons = [
            f"contains a {what}"
            for what, pattern in _SECRET_CONTENT.items()
            if pattern.search(data)
        ]
    if forbidden.matches(data):
        reasons.append("is a file that must stay out of the image (build secret)")
    return reasons


# Layers are content-addressed (diff id): one identical in several images is scanned once.
_LAYER_CACHE: dict[tuple[str, _Forbidden], list[tuple[str, str]]] = {}


def _scan_layer(layer: IO[bytes], forbidden: _Forbidden) -> list[tuple[str, str]]:
    """(path, reason) pairs for one layer tar."""
    findings: list[tuple[str, str]] = []
    with tarfile.open(fileobj=layer, mode="r|*") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if Path(name).name.startswith(".wh."):
                continue
            if _SECRET_FILE_NAMES.search(name):
                findings.append((name, "file name of a credential"))
            if not member.isfile() or member.size > _MAX_SCANNED_FILE:
                continue
            handle = tar.extractfile(member)
            if handle is None:  # pragma: no cover - regular files always have data
                continue
            reasons = _scan_bytes(handle.read(), forbidden)
            if any(pattern.match(name) for pattern in _KNOWN_TEST_KEYS):
                reasons = [r for r in reasons if r != "contains a private key"]
            findings.extend((name, reason) for reason in reasons)
    return findings


def _scan_config(config: Mapping[str, Any], where: str) -> list[Finding]:
    findings: list[Finding] = []
    for entry in config.get("config", {}).get("Env") or []:
        name, _, value = str(entry).partition("=")
        if value and _SECRET_ENV_NAME.search(name):
            findings.append(
                Finding(where, f"ENV {name}", "environment variable named like a secret")
            )
    text = json.dumps(config).encode()
    findings.extend(
        Finding(where, "image config", f"contains a {what}")
        for what, pattern in _SECRET_CONTENT.items()
        if pattern.search(text.replace(b"\\n", b"\n").replace(b'\\"', b'"'))
    )
    return findings


def scan_image(
    engine: DockerEngine, ref: str, workdir: Path, *, forbidden_files: Sequence[Path] = ()
) -> list[Finding]:
    """Scan every layer of ``ref`` (``docker save``) and its config for secret-looking content.

    ``forbidden_files`` are files (a build secret such as the CA bundle) whose exact content
    must not appear in any layer.
    """
    forbidden = _Forbidden.of(forbidden_files)
    archive = workdir / f"{hashlib.sha256(ref.encode()).hexdigest()[:12]}.tar"
    engine.run("save", "--output", str(archive), ref)
    findings: list[Finding] = []
    try:
        with tarfile.open(archive) as image:
            manifest = json.load(_member(image, "manifest.json"))[0]
            config = json.load(_member(image, manifest["Config"]))
            findings += _scan_config(config, "image config")
            diff_ids = config["rootfs"]["diff_ids"]
            for index, (layer_name, diff_id) in enumerate(
                zip(manifest["Layers"], diff_ids, strict=True)
            ):
                key = (diff_id, forbidden)
                if key not in _LAYER_CACHE:
                    _LAYER_CACHE[key] = _scan_layer(_member(image, layer_name), forbidden)
                where = f"layer {index} ({diff_id[:19]})"
                findings += [Finding(where, path, reason) for path, reason in _LAYER_CACHE[key]]
    finally:
        archive.unlink(missing_ok=True)
    return findings


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = archive.extractfile(name)
    if handle is None:
        msg = f"{name} missing from the saved image"
        raise DockerSetupError(msg)
    return io.BytesIO(handle.read()) if name.endswith(".json") else handle


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
    ensure_apt_packages(["docker-registry"])
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
    registry = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    process = ManagedProcess(
        [registry, "serve", str(config)], log_path=workdir / "registry.log"
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
