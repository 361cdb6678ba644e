"""Local stand-ins for the pinned base and uv images, prepared once by ``make provision``.

No image registry is reachable, so the Dockerfiles' ``PYTHON_IMAGE`` and ``UV_IMAGE`` build
arguments get local images: a stand-in for ``gcr.io/distroless/python3-debian12`` and a
``FROM scratch`` image holding the host's ``uv`` binary.

The stand-in is a Debian bookworm ``minbase`` root filesystem with Debian's ``python3`` (3.11,
at ``/usr/bin/python3`` like distroless) and the CA store, time zones and netbase distroless
ships, made by ``debootstrap`` from the mirror apt already uses, then stripped as distroless
is: every program but the interpreter is removed (no ``sh``, ``bash`` or ``dash``, no
coreutils), and so are apt, dpkg and their state and configuration, so it has no shell and no
package manager. It is loaded with ``docker import`` with distroless's configuration
(``ENTRYPOINT ["/usr/bin/python3.11"]``, ``LANG``, ``PATH``, ``SSL_CERT_FILE``).

Provisioning (:func:`prepare_local_images`) builds both into the suite's persistent docker data
root and keeps a ``docker save`` archive of each in the cache. A test session only asks
:func:`ensure_local_images`: a tag its engine lacks (a throw-away data root, a system daemon) is
loaded from the archive in seconds; a missing archive fails with "run `make provision`".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.docker import (
    CACHE_ROOT,
    DOCKER_CLIENT,
    DockerEngine,
    DockerSetupError,
    require_commands,
)

__all__ = [
    "BASE_IMAGE_TAG",
    "DISTROLESS_CONFIG",
    "IMAGE_ARCHIVES",
    "LocalImages",
    "archive_path",
    "build_base_image",
    "build_uv_image",
    "debian_mirror",
    "ensure_local_images",
    "prepare_local_images",
    "strip_to_distroless",
    "uv_binary",
    "uv_image_tag",
]

# Bump the suffix when the recipe in build_base_image changes, so cached images are rebuilt.
BASE_IMAGE_TAG = "clarity-local/python3-debian12:distroless-standin-1"
UV_IMAGE_REPOSITORY = "clarity-local/uv"
IMAGE_ARCHIVES = CACHE_ROOT / "images"


@dataclass(frozen=True)
class LocalImages:
    """Locally built stand-ins for the pinned base (distroless python) and uv images."""

    base: str
    uv: str


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


def build_base_image(
    engine: DockerEngine, workdir: Path, *, tag: str = BASE_IMAGE_TAG, mirror: str | None = None
) -> str:
    """Build (once; cached by tag) the distroless stand-in from a debootstrap root filesystem."""
    if engine.image_exists(tag):
        return tag
    debootstrap = require_commands("debootstrap")["debootstrap"]
    rootfs = workdir / "base-rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    argv = [
        str(debootstrap),
        "--variant=minbase",
        "--include=python3,ca-certificates,netbase,tzdata",
        "bookworm",
        str(rootfs),
        mirror or debian_mirror(),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-2000:]
        msg = f"debootstrap failed ({result.returncode}); is the Debian mirror reachable?\n{tail}"
        raise DockerSetupError(msg)
    strip_to_distroless(rootfs)
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
    )
    try:
        imported = subprocess.run(
            [
                str(DOCKER_CLIENT),
                "import",
                *(item for change in DISTROLESS_CONFIG for item in ("--change", change)),
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


# What gcr.io/distroless/python3-debian12 sets (its python3/BUILD and its cc/base parents).
DISTROLESS_CONFIG = (
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    'ENTRYPOINT ["/usr/bin/python3.11"]',
)
_PROGRAM_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")
_KEPT_PROGRAMS = frozenset({"python3", "python3.11"})
# The package manager, its state and configuration, and documentation distroless leaves out.
_REMOVED = (
    "etc/apt",
    "etc/dpkg",
    "usr/lib/apt",
    "usr/lib/dpkg",
    "usr/libexec/dpkg",
    "usr/share/dpkg",
    "var/cache/apt",
    "var/cache/debconf",
    "var/lib/apt",
    "var/lib/dpkg",
    "usr/share/doc",
    "usr/share/info",
    "usr/share/man",
    "usr/share/perl5",
    "usr/lib/*/perl-base",
)


def strip_to_distroless(rootfs: Path) -> None:
    """Remove every program but Python 3.11, and the package manager, from ``rootfs``."""
    for directory in _PROGRAM_DIRS:
        path = rootfs / directory
        if path.is_symlink() or not path.is_dir():  # merged /usr: /bin is a link to usr/bin
            continue
        for entry in path.iterdir():
            if entry.name in _KEPT_PROGRAMS:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    for pattern in _REMOVED:
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    # distroless links both names to the versioned interpreter.
    (rootfs / "usr/bin/python").symlink_to("python3.11")
    if not (rootfs / "usr/bin/python3.11").is_file():
        msg = f"the stand-in root filesystem {rootfs} has no /usr/bin/python3.11"
        raise DockerSetupError(msg)


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
    tag = uv_image_tag()
    if engine.image_exists(tag):
        return tag
    context = workdir / "uv-image"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy2(uv, context / "uv")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY uv /uv\n")
    engine.run("build", "--quiet", "-t", tag, str(context))
    return tag


def uv_image_tag() -> str:
    """The uv image's tag: the version of the uv binary it holds."""
    version = subprocess.run(
        [str(uv_binary()), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    return f"{UV_IMAGE_REPOSITORY}:{version}"


def archive_path(tag: str) -> Path:
    """Where the ``docker save`` archive of ``tag`` is cached."""
    return IMAGE_ARCHIVES / (re.sub(r"[^A-Za-z0-9_.-]+", "_", tag) + ".tar")


def _save(engine: DockerEngine, tag: str) -> None:
    target = archive_path(tag)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    engine.run("save", "--output", str(partial), tag)
    partial.replace(target)  # atomic: a reader never sees half an archive


def prepare_local_images(engine: DockerEngine, workdir: Path) -> list[str]:
    """Provisioning: both images in ``engine`` and archived in the cache; what was done."""
    done: list[str] = []
    builders: dict[str, Callable[[DockerEngine, Path], str]] = {
        BASE_IMAGE_TAG: build_base_image,
        uv_image_tag(): build_uv_image,
    }
    for tag, build in builders.items():
        archive = archive_path(tag)
        if not engine.image_exists(tag):
            if archive.is_file():
                engine.run("load", "--input", str(archive))
                done.append(f"loaded {tag} from {archive.name}")
            else:
                build(engine, workdir)
                done.append(f"built {tag}")
        if not archive.is_file():
            _save(engine, tag)
            done.append(f"archived {tag}")
    return done


def ensure_local_images(engine: DockerEngine, images: LocalImages | None = None) -> LocalImages:
    """Both images (by default the provisioned ones) present in ``engine``, loaded from their
    archives where missing."""
    images = images or LocalImages(base=BASE_IMAGE_TAG, uv=uv_image_tag())
    for tag in (images.base, images.uv):
        if engine.image_exists(tag):
            continue
        archive = archive_path(tag)
        if not archive.is_file():
            msg = f"the local image {tag} is not prepared ({archive} is missing): run `make provision`"
            raise DockerSetupError(msg)
        engine.run("load", "--input", str(archive))
    return images
