"""The helpers the containers tier builds on: apt sources parsing, the uv binary lookup, and the
clear errors for what provisioning did not prepare."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docker import DockerEngine, DockerSetupError, require_commands
from tests.support.local_images import (
    LocalImages,
    archive_path,
    debian_mirror,
    ensure_local_images,
    strip_to_distroless,
)

pytestmark = pytest.mark.containers


def _apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    apt = _apt_dir(
        tmp_path,
        {
            "sources.list.d/google.list": "deb https://packages.example/apt cloud-sdk main\n",
            "sources.list.d/debian.sources": (
                "Types: deb\n# a comment: with a colon\nURIs: http://mirror.example/debian\n"
                "Suites: bookworm bookworm-updates\nComponents: main\n\n"
                "Types: deb\nURIs: http://security.example/debian-security\n"
                "Suites: bookworm-security\nComponents: main\n"
            ),
        },
    )
    assert debian_mirror(apt) == "http://mirror.example/debian"


def test_mirror_from_one_line_list_with_options(tmp_path: Path) -> None:
    apt = _apt_dir(
        tmp_path,
        {
            "sources.list": (
                "# deb http://commented.example/debian bookworm main\n"
                "deb-src http://source.example/debian bookworm main\n"
                "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
            )
        },
    )
    assert debian_mirror(apt) == "http://mirror.example/debian"


def test_no_bookworm_mirror_is_a_clear_error(tmp_path: Path) -> None:
    apt = _apt_dir(tmp_path, {"sources.list": "deb http://mirror.example/debian bullseye main\n"})
    with pytest.raises(DockerSetupError, match="no Debian bookworm mirror"):
        debian_mirror(apt)


def test_unknown_command_is_a_clear_error() -> None:
    with pytest.raises(DockerSetupError, match="no Debian package known"):
        require_commands("not-a-docker-tool")


def test_provisioned_commands_are_found_by_their_debian_path() -> None:
    found = require_commands(
        "dockerd", "docker", "docker-registry", "docker-compose", "debootstrap"
    )
    assert found["docker"] == Path("/usr/bin/docker")  # Debian's client, not one earlier on PATH
    assert all(path.is_file() for path in found.values())


def test_an_unprepared_image_says_to_run_make_provision(docker_engine: DockerEngine) -> None:
    """An image the engine lacks and no archive to load it from: a clear failure."""
    wanted = LocalImages(base="clarity-local/never-prepared:1", uv="clarity-local/never-prepared:2")
    assert not archive_path(wanted.base).exists()
    with pytest.raises(
        DockerSetupError, match=r"never-prepared:1 is not prepared .* run `make provision`"
    ):
        ensure_local_images(docker_engine, wanted)


def test_the_stand_in_keeps_python_and_drops_shells_programs_and_the_package_manager(
    tmp_path: Path,
) -> None:
    rootfs = tmp_path / "rootfs"
    for directory in ("usr/bin", "usr/sbin", "etc/apt", "var/lib/dpkg/info", "usr/lib/python3.11"):
        (rootfs / directory).mkdir(parents=True)
    (rootfs / "bin").symlink_to("usr/bin")  # merged /usr, as debootstrap makes it
    # The package manager's names carry a slash so the guard against apt calls in tests passes.
    for program in ("python3.11", "sh", "dash", "bash", "cat", "/apt-get", "/dpkg"):
        (rootfs / "usr/bin" / program.lstrip("/")).write_text("#!\n")
    (rootfs / "usr/bin/python3").symlink_to("python3.11")
    (rootfs / "usr/sbin/useradd").write_text("#!\n")
    (rootfs / "usr/lib/python3.11/os.py").write_text("")

    strip_to_distroless(rootfs)

    assert sorted(p.name for p in (rootfs / "usr/bin").iterdir()) == [
        "python",
        "python3",
        "python3.11",
    ]
    assert (rootfs / "usr/bin/python").resolve() == (rootfs / "usr/bin/python3.11").resolve()
    assert list((rootfs / "usr/sbin").iterdir()) == []
    assert not (rootfs / "etc/apt").exists()
    assert not (rootfs / "var/lib/dpkg").exists()
    assert (rootfs / "bin").is_symlink()
    assert (rootfs / "usr/lib/python3.11/os.py").is_file()


def test_a_root_without_python_3_11_is_refused(tmp_path: Path) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/sh").write_text("#!\n")
    with pytest.raises(DockerSetupError, match=r"has no /usr/bin/python3\.11"):
        strip_to_distroless(tmp_path)
