"""Every tool image is pinned by tag and digest, in one module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clarity import _images
from clarity._images import IMAGES, TOOL_VERSIONS, ImageRef

pytestmark = pytest.mark.dagger

MODULE = Path(_images.__file__).parent
DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_images_are_pinned_by_tag_and_digest(name: str) -> None:
    image = IMAGES[name]
    assert re.fullmatch(r"[^:@]+(:\d+)?[^:@]*:[^:@]+@sha256:[0-9a-f]{64}", image.address)
    assert image.tag != "latest"
    assert str(image) == image.address


def test_image_refs_refuse_floating_or_unpinned_references() -> None:
    with pytest.raises(ValueError, match="explicit tag"):
        ImageRef(repository="docker.io/library/python", tag="latest", digest=DIGEST)
    with pytest.raises(ValueError, match="sha256 digest"):
        ImageRef(repository="docker.io/library/python", tag="3.11", digest="sha256:abc")
    with pytest.raises(ValueError, match="invalid image repository"):
        ImageRef(repository="Docker.io/Python", tag="3.11", digest=DIGEST)
    assert ImageRef(repository="localhost:5000/x", tag="1", digest=DIGEST).address == (
        f"localhost:5000/x:1@{DIGEST}"
    )


def test_no_other_module_file_names_an_image_or_a_tool_version() -> None:
    pattern = re.compile(r"sha256:[0-9a-f]{64}|[a-z0-9.-]+/[a-z0-9._/-]+:[0-9][\w.-]*")
    for path in MODULE.glob("*.py"):
        if path.name == "_images.py":
            continue
        assert not pattern.search(path.read_text()), path.name
        for version in TOOL_VERSIONS.values():
            assert f"=={version}" not in path.read_text(), path.name


def test_uv_matches_the_makefile() -> None:
    makefile = (MODULE.parents[2] / "Makefile").read_text()
    assert f"UV_VERSION := {TOOL_VERSIONS['uv']}" in makefile


def test_every_pinned_image_is_used() -> None:
    module = "".join(path.read_text() for path in MODULE.glob("*.py"))
    for name in ("PYTHON", "EMULATORS", "TERRAFORM", "TRIVY", "COSIGN"):
        assert f"{name}.address" in module, name
