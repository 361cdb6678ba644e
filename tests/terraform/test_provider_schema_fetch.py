"""Fetching and caching a provider schema, against a wheel served by an httpx transport.

The wheel is a small cdktf-shaped one (tests/terraform/_cdktf_wheel.py); the code that
downloads, verifies, unpacks, derives and caches it is the code that handles the real
50 MB google package.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from terraform.tools.provider_schema import (
    AssemblyError,
    FetchError,
    ProviderPackage,
    load_schema,
    schema_path,
)
from terraform.tools.provider_schema.__main__ import main
from terraform.tools.provider_schema._constraints import allows
from tests.terraform import _cdktf_wheel as fake

pytestmark = pytest.mark.terraform


class Registry:
    """Serves one wheel at the pinned URL and counts the downloads."""

    def __init__(self, wheel: bytes, *, status: int = 200, delay: float = 0.0) -> None:
        self.wheel = wheel
        self.status = status
        self.delay = delay
        self.requests = 0
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        time.sleep(self.delay)
        if str(request.url) != fake.URL or self.status != 200:
            return httpx.Response(self.status if self.status != 200 else 404)
        return httpx.Response(200, content=self.wheel)


def _refusing() -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        message = f"unexpected download of {request.url}: the schema should come from the cache"
        raise AssertionError(message)

    return httpx.MockTransport(handle)


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith((".json", ".lock")))


def test_the_schema_is_derived_once_then_served_from_the_cache(tmp_path: Path) -> None:
    wheel = fake.build_wheel()
    package = fake.package_for(wheel)
    registry = Registry(wheel)

    first = load_schema(package, cache_dir=tmp_path, transport=registry.transport())
    again = load_schema(package, cache_dir=tmp_path, transport=_refusing())

    assert registry.requests == 1
    assert schema_path(package, tmp_path).is_file()
    assert again.raw == first.raw
    assert (again.source, again.version, again.package) == (
        "hashicorp/fake",
        "1.2.3",
        "cdktf-cdktf-provider-fake==0.1.0",
    )
    assert _leftovers(tmp_path) == []


def test_names_nesting_read_only_attributes_and_enums_come_from_the_assembly(
    tmp_path: Path,
) -> None:
    wheel = fake.build_wheel()
    schema = load_schema(
        fake.package_for(wheel), cache_dir=tmp_path, transport=Registry(wheel).transport()
    )

    thing = schema.resource("fake_thing")
    assert thing is not None
    modes = {name: attr.mode for name, attr in thing.attributes.items()}
    assert modes == {
        "detect_md5hash": "optional",  # the anchor's name, not detect_md5_hash
        "md5hash": "computed",  # named by the JavaScript getter
        "name": "required",
        "self_link": "computed",
        "tier": "optional",
    }
    assert thing.attributes["tier"].enum == ("BASIC", "PREMIUM")
    settings, rules = thing.blocks["settings"], thing.blocks["rules"]
    assert (settings.min_items, settings.max_items) == (0, 1)
    assert (rules.min_items, rules.max_items) == (1, None)
    assert settings.block.attributes["state"].read_only
    assert rules.block.attributes["action"].mode == "required"
    data = schema.data_source("fake_thing")
    assert data is not None
    assert sorted(data.attributes) == ["name", "self_link"]
    assert list(schema.provider().attributes) == ["region"]
    assert schema.resource("fake_other") is None
    assert schema.stats["names_from_anchors"] == 9


def test_an_assembly_compressed_behind_a_redirect_is_read(tmp_path: Path) -> None:
    wheel = fake.build_wheel(compressed=True)
    schema = load_schema(
        fake.package_for(wheel), cache_dir=tmp_path, transport=Registry(wheel).transport()
    )
    assert schema.resource_types() == ["fake_thing"]


def test_bytes_that_are_not_the_pinned_ones_are_refused_and_nothing_is_cached(
    tmp_path: Path,
) -> None:
    wheel = fake.build_wheel()
    package = fake.package_for(wheel)
    tampered = wheel[:-1] + bytes([wheel[-1] ^ 0xFF])

    with pytest.raises(FetchError, match="is not the pinned file: sha256 ") as raised:
        load_schema(package, cache_dir=tmp_path, transport=Registry(tampered).transport())

    assert package.sha256 in str(raised.value)
    assert not schema_path(package, tmp_path).exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [404, 503])
def test_a_failed_download_says_what_to_run(tmp_path: Path, status: int) -> None:
    wheel = fake.build_wheel()
    package = fake.package_for(wheel)
    with pytest.raises(FetchError, match=r"run `make provision` where it is reachable"):
        load_schema(
            package, cache_dir=tmp_path, transport=Registry(wheel, status=status).transport()
        )
    assert not schema_path(package, tmp_path).exists()


def test_an_unreachable_host_says_what_to_run(tmp_path: Path) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        message = "Name or service not known"
        raise httpx.ConnectError(message, request=request)

    package = fake.package_for(fake.build_wheel())
    with pytest.raises(FetchError, match=r"Name or service not known.*make provision"):
        load_schema(package, cache_dir=tmp_path, transport=httpx.MockTransport(unreachable))


def test_concurrent_first_runs_download_once(tmp_path: Path) -> None:
    wheel = fake.build_wheel()
    package = fake.package_for(wheel)
    registry = Registry(wheel, delay=0.3)
    results: list[str] = []

    def run() -> None:
        schema = load_schema(package, cache_dir=tmp_path, transport=registry.transport())
        results.append(schema.package)

    workers = [threading.Thread(target=run) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert results == ["cdktf-cdktf-provider-fake==0.1.0"] * 3
    assert registry.requests == 1


def test_a_cache_written_by_another_format_is_derived_again(tmp_path: Path) -> None:
    wheel = fake.build_wheel()
    package = fake.package_for(wheel)
    schema_path(package, tmp_path).write_text('{"format": 0}')
    registry = Registry(wheel)

    schema = load_schema(package, cache_dir=tmp_path, transport=registry.transport())

    assert registry.requests == 1
    assert schema.resource("fake_thing") is not None


def test_a_package_without_an_assembly_is_refused(tmp_path: Path) -> None:
    wheel = fake.build_wheel(with_assembly=False)
    with pytest.raises(AssemblyError, match="holds 0 jsii tarballs"):
        load_schema(
            fake.package_for(wheel), cache_dir=tmp_path, transport=Registry(wheel).transport()
        )


def test_a_pin_naming_another_provider_release_is_refused(tmp_path: Path) -> None:
    wheel = fake.build_wheel()
    package: ProviderPackage = fake.package_for(wheel, provider_version="9.9.9")
    with pytest.raises(AssemblyError, match=r"documents hashicorp/fake 1\.2\.3, but the pin says"):
        load_schema(package, cache_dir=tmp_path, transport=Registry(wheel).transport())
    assert not schema_path(package, tmp_path).exists()


def test_the_command_line_names_an_unpinned_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "--provider", "hashicorp/random"]) == 5
    error = capsys.readouterr().err
    assert "no pinned schema package for hashicorp/random" in error
    assert "integrations/github 6.9.0" in error, "the message lists what is pinned"


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        (">= 6.14.0, < 7.0.0", "6.50.0", True),
        (">= 6.14.0, < 7.0.0", "6.14.0", True),
        (">= 6.14.0, < 7.0.0", "7.0.0", False),
        ("~> 6.14", "6.50.0", True),
        ("~> 6.14", "7.1.0", False),
        ("~> 6.14.0", "6.15.0", False),
        ("!= 6.50.0", "6.50.0", False),
        ("6.50.0", "6.50.0", True),
        ("latest", "6.50.0", None),
    ],
)
def test_version_constraints(constraint: str, version: str, expected: bool | None) -> None:
    assert allows(constraint, version) is expected
