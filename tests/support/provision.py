"""Provision this host for the test suite: ``python -m tests.support.provision`` (``make provision``).

Everything the suite needs from outside the lockfiles is prepared here, once, before pytest
starts, and never by a test: the Debian packages (:data:`~tests.support.docker.DEBIAN_PACKAGES`),
a dockerd that starts on the suite's data root, the local base and uv images in that data root
(and archived in the cache for sessions that get another data root), and a check that gcloud
with the Firestore and Pub/Sub emulators and a Java runtime are there (they cannot be installed
from the package registries this project may use, so the message says how).

The steps run in order, each named and timed; each looks before it acts, so on a provisioned
host the whole run takes a second or two. One file lock serializes runs (two ``make test`` at
once, CI jobs sharing a machine), so an ``apt-get`` of ours never meets another one of ours;
someone else's apt is waited for. To add a step (a pinned download, say), write a function
``(Context) -> str`` that returns what it did, and insert a :class:`Step` into :data:`STEPS`.

What provisioning leaves running: nothing. The docker steps start dockerd only to prepare the
images and stop it by process group; test sessions start and stop their own daemons.

Exit status: 0 provisioned, 1 a step failed (its message says what to do), 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tests.support.docker import (
    CACHE_ROOT,
    DEBIAN_PACKAGES,
    DataRootBusy,
    DockerEngine,
    DockerSetupError,
    start_engine,
)
from tests.support.local_images import (
    BASE_IMAGE_TAG,
    archive_path,
    prepare_local_images,
    uv_image_tag,
)

__all__ = ["LOCK_PATH", "STEPS", "Context", "ProvisionError", "Step", "main", "provision"]

LOCK_PATH = CACHE_ROOT / "provision.lock"
# apt of someone else (unattended upgrades, another project) is waited for this long.
_APT_WAIT_SECONDS = 600.0
_APT_LOCKED = ("Could not get lock", "Unable to acquire the dpkg frontend lock")
_MIN_JAVA = 11  # the Firestore emulator's floor
EMULATOR_COMPONENTS = {
    "Firestore": ("cloud-firestore-emulator", "google-cloud-cli-firestore-emulator"),
    "Pub/Sub": ("pubsub-emulator", "google-cloud-cli-pubsub-emulator"),
}


class ProvisionError(RuntimeError):
    """A step could not do its job; the message says what to do."""


@dataclass
class Context:
    """What the steps share: a scratch directory, the output, and the engine the docker steps use."""

    workdir: Path
    out: TextIO
    engine: DockerEngine | None = None
    _engines: list[DockerEngine] = field(default_factory=list)

    def start_engine(self, *, persistent_only: bool) -> DockerEngine:
        """A dockerd for the docker steps, stopped when provisioning ends."""
        engine = start_engine(
            self.workdir / f"engine-{len(self._engines)}",
            data_root_wait=2.0,
            persistent_only=persistent_only,
        )
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        """Stop every daemon the steps started (by process group)."""
        while self._engines:
            self._engines.pop().stop()


@dataclass(frozen=True)
class Step:
    """One named, idempotent provisioning step: ``run`` returns a one-line account of what it did."""

    name: str
    summary: str
    run: Callable[[Context], str]


# ---------------------------------------------------------------- Debian packages


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "install ok installed"


def _apt(*args: str) -> None:
    """``apt-get ARGS``, waiting for someone else's apt (our own runs hold LOCK_PATH)."""
    argv = ["apt-get", "-o", f"DPkg::Lock::Timeout={_APT_WAIT_SECONDS:.0f}", "-q", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    deadline = time.monotonic() + _APT_WAIT_SECONDS
    while True:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        # DPkg::Lock::Timeout covers the dpkg lock, not the lists lock `apt-get update` takes.
        if any(text in result.stderr for text in _APT_LOCKED) and time.monotonic() < deadline:
            time.sleep(2.0)
            continue
        msg = f"`{' '.join(argv)}` failed ({result.returncode}):\n{result.stderr[-2000:]}"
        raise ProvisionError(msg)


def install_debian_packages(_ctx: Context) -> str:
    """Install the suite's Debian packages that are missing."""
    packages = sorted(set(DEBIAN_PACKAGES.values()))
    if shutil.which("dpkg-query") is None:
        msg = (
            f"this is not a Debian-based host: install {', '.join(packages)} (or their "
            "equivalents) yourself, or run the suite without the container tier (-m 'not containers')"
        )
        raise ProvisionError(msg)
    missing = [p for p in packages if not _installed(p)]
    if not missing:
        return f"{', '.join(packages)} already installed"
    if os.geteuid() != 0:
        msg = f"missing {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`, or `make provision` as root"
        raise ProvisionError(msg)
    _apt("update")
    _apt("install", "-y", *missing)
    still = [p for p in missing if not _installed(p)]
    if still:
        msg = f"apt-get reported success but {', '.join(still)} is not installed"
        raise ProvisionError(msg)
    return f"installed {', '.join(missing)}"


# ---------------------------------------------------------------- docker


def start_docker_engine(ctx: Context) -> str:
    """Start dockerd on the suite's persistent data root (or reuse a running daemon)."""
    try:
        ctx.engine = ctx.start_engine(persistent_only=True)
    except DataRootBusy:
        ctx.engine = None
        return "the suite's data root is in use by a running test session (its dockerd is up)"
    version = ctx.engine.run("version", "--format", "{{.Server.Version}}").stdout.strip()
    where = "the suite's data root" if ctx.engine.owned else f"the running daemon {ctx.engine.host}"
    return f"dockerd {version} answers on {where}"


def prepare_images(ctx: Context) -> str:
    """The base and uv images in the suite's data root and archived in the cache."""
    tags = (BASE_IMAGE_TAG, uv_image_tag())
    engine = ctx.engine
    if engine is None:
        if all(archive_path(tag).is_file() for tag in tags):
            return "archived in the cache; the session holding the data root loads them if needed"
        # The data root is busy: build the archives with a throw-away daemon.
        engine = ctx.start_engine(persistent_only=False)
    done = prepare_local_images(engine, ctx.workdir)
    return "; ".join(done) if done else f"{', '.join(tags)} present and archived"


# ---------------------------------------------------------------- emulators


def _java_major(java: str) -> int | None:
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    for token in result.stderr.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and "." in token:
            return int(head) if head != "1" else int(token.split(".")[1])
    return None


def check_emulators(_ctx: Context) -> str:
    """gcloud with the Firestore and Pub/Sub emulators, and Java, are installed."""
    problems: list[str] = []
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        problems.append("gcloud is not on PATH")
    else:
        platform = Path(gcloud).resolve().parents[1] / "platform"
        problems += [
            f"the {name} emulator is missing (apt-get install {package}, or gcloud components install {component})"
            for name, (component, package) in EMULATOR_COMPONENTS.items()
            if not (platform / component).is_dir()
        ]
    java = shutil.which("java")
    major = _java_major(java) if java else None
    if major is None or major < _MIN_JAVA:
        found = "no java on PATH" if java is None else f"java {major or 'unknown'}"
        problems.append(
            f"the emulators need Java {_MIN_JAVA} or newer ({found}; apt-get install openjdk-17-jre-headless)"
        )
    if problems:
        msg = (
            "the integration and delivery tiers start Google's emulators: "
            + "; ".join(problems)
            + ". Install the Google Cloud CLI with both emulators (https://cloud.google.com/sdk/docs/install)."
        )
        raise ProvisionError(msg)
    return f"gcloud ({gcloud}), Firestore and Pub/Sub emulators, Java {major}"


# ---------------------------------------------------------------- provider schemas


def fetch_provider_schemas(_ctx: Context) -> str:
    """The pinned providers' schemas (cdktf assemblies from PyPI, hash-checked), derived and
    cached for the offline Terraform schema check (terraform/tools/provider_schema)."""
    from terraform.tools.provider_schema.fetch import (  # noqa: PLC0415 - only this step needs it
        load_schema,
        schema_path,
    )
    from terraform.tools.provider_schema.packages import PACKAGES  # noqa: PLC0415

    done = []
    for package in PACKAGES:
        cached = schema_path(package).exists()
        schema = load_schema(package)
        done.append(f"{schema.source} {schema.version}{'' if cached else ' (fetched)'}")
    return ", ".join(done)


STEPS: tuple[Step, ...] = (
    Step("debian-packages", "Debian packages the suite uses", install_debian_packages),
    Step("docker-engine", "dockerd starts on the suite's data root", start_docker_engine),
    Step("local-images", "the local base and uv images", prepare_images),
    Step("emulators", "gcloud with the Firestore and Pub/Sub emulators, Java", check_emulators),
    Step("provider-schemas", "the pinned Terraform providers' schemas", fetch_provider_schemas),
)


# ---------------------------------------------------------------- runner


@contextlib.contextmanager
def _exclusive(out: TextIO) -> Iterator[None]:
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_PATH.open("wb") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"==> waiting for another provisioning run ({LOCK_PATH})", file=out, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def provision(steps: Sequence[Step] = STEPS, *, out: TextIO = sys.stdout) -> bool:
    """Run ``steps`` in order under the provisioning lock; print each one's time. True if all passed."""
    started = time.monotonic()
    with _exclusive(out), tempfile.TemporaryDirectory(prefix="clarity-provision-") as tmp:
        ctx = Context(workdir=Path(tmp), out=out)
        try:
            for number, step in enumerate(steps, 1):
                began = time.monotonic()
                label = f"[{number}/{len(steps)}] {step.name}"
                try:
                    account = step.run(ctx)
                except (ProvisionError, DockerSetupError) as exc:
                    seconds = time.monotonic() - began
                    print(f"==> {label}: FAILED in {seconds:.1f}s\n{exc}", file=out, flush=True)
                    return False
                seconds = time.monotonic() - began
                print(f"==> {label}: {account} ({seconds:.1f}s)", file=out, flush=True)
        finally:
            ctx.close()
    print(f"==> provisioned in {time.monotonic() - started:.1f}s", file=out, flush=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.provision",
        description="Prepare this host for the test suite (idempotent; serialized by a lock).",
    )
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    parser.add_argument(
        "--only", metavar="STEP[,STEP]", help="run only these steps (in their usual order)"
    )
    args = parser.parse_args(argv)
    if args.list:
        for step in STEPS:
            print(f"{step.name:16} {step.summary}")
        return 0
    steps = STEPS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {s.name for s in STEPS}
        if unknown:
            print(
                f"error: unknown step(s) {', '.join(sorted(unknown))}; see --list", file=sys.stderr
            )
            return 2
        steps = tuple(s for s in STEPS if s.name in wanted)
    return 0 if provision(steps) else 1


if __name__ == "__main__":
    sys.exit(main())
