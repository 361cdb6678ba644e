"""The helpers the containers tier builds on: apt sources parsing and the uv binary lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docker import DockerSetupError, debian_mirror, ensure_apt_packages, uv_binary

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
        ensure_apt_packages(["not-a-docker-tool"])


def test_uv_binary_is_an_executable_not_a_shim() -> None:
    with uv_binary().open("rb") as handle:
        assert handle.read(4) == b"\x7fELF"
